//go:build !linux

package harness

import (
	"context"

	"github.com/iobench/iobench/models"
)

// loadIdle: the heartbeat driver is an epoll loop, Linux only.
func loadIdle(context.Context, LoadConfig) (*LoadResult, error) {
	return nil, models.Unsupported(idleDriverName, "the heartbeat driver (scale suite) runs on Linux only: epoll and IP_BIND_ADDRESS_NO_PORT")
}
