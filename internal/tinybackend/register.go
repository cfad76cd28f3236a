package tinybackend

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "tinybackend"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "blocking sockets, a reader goroutine per session: the CONTRIBUTING.md example",
		Available: available,
		New:       New,
	})
}
