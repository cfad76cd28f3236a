package epoll

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "epoll"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "raw epoll reactor: level-triggered event loops, SO_REUSEPORT listener per loop, writev gather, eventfd wakeups",
		Available: available,
		New:       New,
	})
}

// New builds an epoll engine. Where epoll does not exist it returns the error of Available,
// which matches models.ErrUnsupported.
func New(cfg models.Config) (models.Engine, error) {
	if err := available(); err != nil {
		return nil, err
	}
	return newEngine(cfg)
}
