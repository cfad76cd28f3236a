package sock

import "golang.org/x/sys/unix"

// Listen opens a TCP listening socket of family bound to sa with SO_REUSEADDR and
// SO_REUSEPORT (so each event loop can have its own socket on one port, and the kernel
// spreads connections over them; socket(7)) and the Backlog. flags are extra socket(2) type
// flags (SOCK_NONBLOCK for a readiness loop; none for io_uring, whose accept does not need
// it). op names the call that failed.
func Listen(family int, sa unix.Sockaddr, flags int) (fd int, op string, err error) {
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, unix.IPPROTO_TCP)
	if err != nil {
		return -1, "socket", err
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		op = "setsockopt SO_REUSEADDR"
	} else if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		op = "setsockopt SO_REUSEPORT"
	} else if err = unix.Bind(fd, sa); err != nil {
		op = "bind"
	} else if err = unix.Listen(fd, Backlog); err != nil {
		op = "listen"
	}
	if err != nil {
		unix.Close(fd)
		return -1, op, err
	}
	return fd, "", nil
}

// PortFree binds a plain socket (no SO_REUSEPORT) to sa and closes it. Without this probe
// SO_REUSEPORT would let Listen join a port that another process of the same user already
// serves with SO_REUSEPORT (a second iobench serve, gnet) and silently split its connections.
// Port 0 needs no probe: the kernel picks a port nobody is bound to.
func PortFree(family int, sa unix.Sockaddr) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.Bind(fd, sa)
}
