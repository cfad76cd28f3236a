package netem

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenTUN creates the TUN device name (IFF_TUN|IFF_NO_PI: one IP packet per read and write,
// no header) in this process's network namespace and returns its file, in the runtime's
// poller (non-blocking), so Close ends a pending Read. The device lives as long as the file;
// it may be moved to another namespace (`ip link set NAME netns NS`) and the file keeps
// reading and writing it. See https://docs.kernel.org/networking/tuntap.html.
func OpenTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}
