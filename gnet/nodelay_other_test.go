//go:build !windows

package gnet

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// TestNoDelay: accepted and dialled sessions have TCP_NODELAY set, as Go net sets it.
// Without it, fan-out Sends meet Nagle's algorithm and delayed ACKs (40 ms stalls).
func TestNoDelay(t *testing.T) {
	eng := modeltest.Open(t, Name, models.Config{})
	fds := make(chan int, 4)
	h := models.HandlerFuncs{
		Connect: func(s models.Session) { fds <- s.(*session).fd },
		Recv:    func(s models.Session, w []byte) int { s.Send(w); return len(w) },
	}
	svc := modeltest.Listen(t, eng, h, models.ServiceOptions{})
	c := modeltest.Dial(t, svc.Addr())
	modeltest.RoundTrip(t, c, []byte("x"))
	if _, err := eng.Connect(svc.Addr().String(), h, models.ServiceOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the test's peer, the dialled session and its accepted end
		fd := <-fds
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		if err != nil || v == 0 {
			t.Errorf("session %d: TCP_NODELAY = %d, %v; want set", i, v, err)
		}
	}
}
