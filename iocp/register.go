package iocp

import "github.com/iobench/iobench/models"

// Name is the backend name.
const Name = "iocp"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "raw I/O completion ports: AcceptEx/ConnectEx, WSARecv/WSASend gather writes, GetQueuedCompletionStatusEx loops",
		Available: available,
		New:       newEngine,
	})
}
