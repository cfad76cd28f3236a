//go:build !unix

package modeltest

import (
	"errors"
	"net"
)

var errNoInspect = errors.New("socket options of another component's sockets cannot be inspected on this platform (no descriptor table to search)")

func socketNoDelay(net.Addr, net.Addr) (bool, error) { return false, errNoInspect }
