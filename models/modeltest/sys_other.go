//go:build !linux && !windows

package modeltest

import (
	"net"
	"testing"
)

// deadAddr returns the address of a listener it closed at once. On this platform the port is
// not held, so another process could take it in the meantime (rare).
func deadAddr(tb testing.TB) (string, func()) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, func() {}
}

// reListenable returns an address and a func listening on it; the port is free between
// listeners here.
func reListenable(tb testing.TB) (string, func() (net.Listener, error)) {
	addr, _ := deadAddr(tb)
	return addr, func() (net.Listener, error) { return net.Listen("tcp", addr) }
}

// underWine is false: Wine runs Windows binaries only.
func underWine() bool { return false }

// processFDs is only counted on Linux (/proc/PID/fd).
func processFDs(int) (int, bool) { return 0, false }
