package netstd

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "netstd"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "Go net: goroutine per connection on the runtime poller (epoll/kqueue/IOCP inside)",
		Available: func() error { return nil },
		New:       New,
	})
}
