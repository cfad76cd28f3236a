package netpoll

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "netpoll"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "cloudwego/netpoll: global epoll/kqueue pollers read into LinkBuffers, handlers on gopool goroutines",
		Available: available,
		New:       New,
		Note:      "pollers are process-global, set to Config.Loops; reads ahead without bound; Stats.Reads counts handler batches, not read syscalls",
	})
}
