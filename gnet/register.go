package gnet

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "gnet"

// gnet's Windows build is a development mode over Go net; under Wine 8 its close_in_flight
// case fails intermittently for reasons inside gnet (see the README), so the Wine suite
// leaves it out; it runs natively on Windows in CI.
//iobench:nowine gnet's Windows build is a development mode over Go net (README: gnet under Wine)

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "gnet v2: event loops (epoll/kqueue) fed by a Go accept loop, one writev per loop turn",
		Available: func() error { return nil },
		New:       New,
		Note:      platformNote,
	})
}
