package epoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every system call of the package that the hot path makes is declared here.
//
// read(2) and writev(2) on a non-blocking socket, and write(2) on a non-blocking eventfd,
// never block, so they go through RawSyscall: the runtime's entersyscall/exitsyscall
// bookkeeping (which exists to hand the P to another thread during a blocking call) is pure
// overhead for them. epoll_wait(2) blocks and goes through unix.EpollWait (Syscall6). The
// helpers return the raw Errno so the hot path never boxes an error.

// wakeValue is the 8-byte counter increment an eventfd write adds (eventfd(2)).
var wakeValue = [8]byte{1}

// sysRead is read(2) into p (p must not be empty).
func sysRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sysWritev is writev(2) of iov (https://man7.org/linux/man-pages/man2/writev.2.html). The
// iovec array is loop-owned Go memory reused for every write; the buffers it points to are
// SendQueue chunks, alive for the duration of the call.
func sysWritev(fd int, iov []unix.Iovec) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// sysWake adds 1 to eventfd fd (eventfd(2)); the loop blocked in epoll_wait on it wakes.
func sysWake(fd int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&wakeValue[0])), 8)
	return e
}

// epollCtl is epoll_ctl(2) with a tag as epoll_data.
func epollCtl(epfd, op, fd int, events uint32, t tag) error {
	ev := unix.EpollEvent{Events: events}
	ev.Fd, ev.Pad = t.split()
	return unix.EpollCtl(epfd, op, fd, &ev)
}
