package harness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	_ "github.com/iobench/iobench/epoll"
	_ "github.com/iobench/iobench/gnet"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	_ "github.com/iobench/iobench/netpoll"
	"github.com/iobench/iobench/proto"
	_ "github.com/iobench/iobench/uring"
)

// fullBacklog returns the address of a listener that never accepts and whose accept queue
// is full: listen(2) with backlog 0 holds one connection, which this helper makes; the kernel
// then drops every further SYN and a client's connect(2) retries for about two minutes.
func fullBacklog(tb testing.TB) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break // the queue is full: this SYN was dropped
		}
		tb.Cleanup(func() { c.Close() })
		if i == 8 {
			tb.Fatalf("listener with backlog 0 accepted %d connections without accept(2)", i+1)
		}
	}
	return addr
}

// clientBackends lists the client backends available here.
func clientBackends(tb testing.TB) []string {
	var out []string
	for _, n := range models.Available() {
		if !strings.HasPrefix(n, "harnesstest") {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no backend available")
	}
	return out
}

// Against a listener whose backlog is full, connect(2) would retry for minutes: the load
// must give up after --connect-timeout, and must stop at once when its context ends.
func TestLoadConnectTimeoutAndCancel(t *testing.T) {
	addr := fullBacklog(t)
	for _, b := range clientBackends(t) {
		t.Run(b+"/timeout", func(t *testing.T) {
			t0 := time.Now()
			_, err := Load(context.Background(), LoadConfig{Target: addr, Proto: proto.Echo, Conns: 4, Size: 64,
				Depth: 1, Duration: time.Second, ClientBackend: b, ConnectTimeout: 500 * time.Millisecond})
			el := time.Since(t0)
			if err == nil || !strings.Contains(err.Error(), "timed out") {
				t.Fatalf("err %v after %v, want a connect timeout", err, el)
			}
			if el > 8*time.Second {
				t.Fatalf("returned after %v with a 500ms connect timeout", el)
			}
		})
		t.Run(b+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			t0 := time.Now()
			_, err := Load(ctx, LoadConfig{Target: addr, Proto: proto.Echo, Conns: 4, Size: 64,
				Depth: 1, Duration: time.Second, ClientBackend: b, ConnectTimeout: time.Minute})
			el := time.Since(t0)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v after %v, want context.Canceled", err, el)
			}
			if el > 8*time.Second {
				t.Fatalf("returned %v after the cancel", el-300*time.Millisecond)
			}
		})
	}
	t.Run("cmd", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		var out, errb bytes.Buffer
		err := LoadCmd(ctx, []string{"--target", addr, "--depth", "1", "--conns", "2"}, &out, &errb)
		if got := cli.Code(err); got != cli.ExitInterrupted {
			t.Fatalf("exit %d (%v), want %d", got, err, cli.ExitInterrupted)
		}
	})
}
