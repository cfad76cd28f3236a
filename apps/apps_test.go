package apps_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/proto"

	_ "github.com/iobench/iobench/epoll"
	_ "github.com/iobench/iobench/gnet"
	_ "github.com/iobench/iobench/netpoll"
	_ "github.com/iobench/iobench/netstd"
	_ "github.com/iobench/iobench/uring"
)

// eachBackend runs f as a subtest on every server backend available here (on Linux: netstd,
// gnet, netpoll, epoll and uring where the kernel has it).
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	bs := models.Available()
	if len(bs) == 0 {
		t.Fatal("no backend available")
	}
	for _, b := range bs {
		t.Run("backend="+b, func(t *testing.T) { f(t, b) })
	}
}

// server is one app served by one backend on 127.0.0.1:0.
type server struct {
	addr net.Addr
	tr   *modeltest.Tracker
	svc  models.Service
}

func serve(t *testing.T, backend string, h models.Handler, cfg models.Config) *server {
	t.Helper()
	eng := modeltest.Open(t, backend, cfg)
	tr := modeltest.Track(t, h)
	svc := modeltest.Listen(t, eng, tr, models.ServiceOptions{})
	return &server{addr: svc.Addr(), tr: tr, svc: svc}
}

// stats is the app's own counters.
func stats(t *testing.T, h models.Handler) map[string]uint64 {
	t.Helper()
	r, ok := h.(apps.Reporter)
	if !ok {
		t.Fatalf("%T does not implement apps.Reporter", h)
	}
	return r.AppStats()
}

// waitReason waits for the n-th disconnect and checks every one so far ended with want.
func (s *server) waitReason(t *testing.T, n int, want models.KickReason) {
	t.Helper()
	s.tr.WaitDisconnects(t, n)
	if got := s.tr.Reasons(); got[want] != n {
		t.Fatalf("kick reasons %v, want %d × %v", got, n, want)
	}
}

// peer is one client connection with its codec.
type peer struct {
	c     net.Conn
	codec proto.Client
}

// exchangeAll runs exchange of n messages on every peer at once, then closes them; errors fail
// t.
func exchangeAll(t *testing.T, peers []peer, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := exchange(p.c, p.codec, 0, n); err != nil {
				t.Errorf("connection %d (%d-byte messages): %v", i, p.codec.Size(), err)
			}
			p.c.Close()
		}()
	}
	wg.Wait()
}

// exchange sends n messages of codec (sequences from, from+1, ...) on c while reading the
// replies, which must come back complete, verified and in order.
func exchange(c net.Conn, codec proto.Client, from uint64, n int) error {
	c.SetDeadline(time.Now().Add(20 * time.Second))
	werr := make(chan error, 1)
	go func() {
		var buf []byte
		for i := range n {
			buf = codec.Append(buf[:0], from+uint64(i))
			if _, err := c.Write(buf); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	size := codec.Size()
	buf := make([]byte, size)
	for i := range n {
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		r, err := codec.Next(buf, from+uint64(i))
		if err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		if r.N != size || r.Seq != from+uint64(i) {
			return fmt.Errorf("reply %d: %+v, want %d bytes with seq %d", i, r, size, from+uint64(i))
		}
	}
	return <-werr
}
