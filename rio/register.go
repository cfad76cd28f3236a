package rio

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "rio"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "Windows Registered I/O: registered buffers, request queues per socket, completion queues dequeued in bulk (IOCP-notified)",
		Available: Available,
		New:       New,
	})
}
