package harness

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
)

func TestParseServeHardened(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		idle      time.Duration
		maxFrame  int
		sendQueue int
	}{
		{"default: no guard", nil, 0, 0, 0},
		{"idle timeout alone", []string{"--idle-timeout", "5s"}, 5 * time.Second, 0, 0},
		{"hardened preset", []string{"--hardened"}, 30 * time.Second, 16384, 1 << 20},
		{"explicit flags win", []string{"--max-frame", "100", "--hardened", "--idle-timeout", "2s"}, 2 * time.Second, 100, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseServe(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.IdleTimeout != tc.idle || c.AppOptions.MaxFrame != tc.maxFrame || c.Engine.SendQueueLimit != tc.sendQueue {
				t.Errorf("idle %v max-frame %d send-queue %d, want %v %d %d",
					c.IdleTimeout, c.AppOptions.MaxFrame, c.Engine.SendQueueLimit, tc.idle, tc.maxFrame, tc.sendQueue)
			}
		})
	}
	if _, err := ParseServe([]string{"--idle-timeout", "soon"}, io.Discard); cli.Code(err) != cli.ExitUsage {
		t.Errorf("--idle-timeout soon: %v, want a usage error", err)
	}
	err := Serve(context.Background(), ServeConfig{Backend: "netstd", App: "echo", Addr: "127.0.0.1:0", IdleTimeout: -time.Second},
		strings.NewReader(""), io.Discard, io.Discard)
	if cli.Code(err) != cli.ExitUsage || !strings.Contains(err.Error(), "--idle-timeout") {
		t.Errorf("negative idle timeout: %v (exit %d), want exit 2 naming --idle-timeout", err, cli.Code(err))
	}
}

// TestServeIdleTimeout: `serve --idle-timeout` kicks a connection that sends nothing and
// counts it, and keeps serving.
func TestServeIdleTimeout(t *testing.T) {
	addr, control, out := startServeConfig(t, ServeConfig{Backend: "netstd", App: "framed", IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a silent connection got data instead of being closed")
	}
	st := waitStats(t, control, out, func(s ServerStats) bool { return s.Service.Kicks[models.KickIdleTimeout] >= 1 })
	if st.Service.Disconnects != 1 || st.Service.Kicks[models.KickIdleTimeout] != 1 {
		t.Fatalf("disconnects %d, kicks %v, want one, idle_timeout", st.Service.Disconnects, st.Service.Kicks)
	}
}
