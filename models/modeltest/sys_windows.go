package modeltest

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
)

// deadAddr returns an address nobody listens on, held until release by a socket that is bound
// but not listening, with SO_EXCLUSIVEADDRUSE so no other socket can bind the port meanwhile
// (https://learn.microsoft.com/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse).
// Connects to it are refused. Seen under Wine: a port released at once was taken by another
// test process's listener, and "connected to a dead port" followed.
func deadAddr(tb testing.TB) (string, func()) {
	tb.Helper()
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	release := sync.OnceFunc(func() { windows.Closesocket(s) })
	tb.Cleanup(release)
	const soExclusiveAddrUse = ^windows.SO_REUSEADDR // ((int)(~SO_REUSEADDR)) in winsock2.h
	if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, soExclusiveAddrUse, 1); err != nil {
		tb.Fatalf("SO_EXCLUSIVEADDRUSE: %v", err)
	}
	if err := windows.Bind(s, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := windows.Getsockname(s)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*windows.SockaddrInet4).Port)), release
}

// reListenable returns an address and a func listening on it. The port is not held between
// listeners here (a held, exclusive port could not be listened on again).
func reListenable(tb testing.TB) (string, func() (net.Listener, error)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, func() (net.Listener, error) { return net.Listen("tcp", addr) }
}

// underWine reports whether this Windows binary runs under Wine.
func underWine() bool { return winsock.UnderWine() }

// processCPU is this process's user+system CPU time (GetProcessTimes on the current process:
// https://learn.microsoft.com/windows/win32/api/processthreadsapi/nf-processthreadsapi-getprocesstimes).
func processCPU() (time.Duration, bool) {
	var creation, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &creation, &exit, &kernel, &user); err != nil {
		return 0, false
	}
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100), true // 100 ns units
}

// lowerOpenFileLimit: Windows has no per-process open-file limit to lower (sockets are
// kernel objects bounded by memory), so the accept_emfile case does not run here.
func lowerOpenFileLimit(uint64) error {
	return errors.New("no RLIMIT_NOFILE on Windows: a process cannot be run out of file descriptors on purpose")
}

// processFDs is only counted on Linux (/proc/PID/fd).
func processFDs(int) (int, bool) { return 0, false }

// makeFIFO: Windows has no named pipe in the file system namespace that OpenLog could open as
// a file; the log suite's slow-disk cases skip.
func makeFIFO(string) error { return errors.New("no mkfifo on Windows") }
