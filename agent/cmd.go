package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
)

// TokenEnv is the environment variable holding the token when --token is not given.
const TokenEnv = "IOBENCH_TOKEN"

// Cmd is `iobench agent`: it prints "listening on HOST:PORT" (as serve does) and serves the
// control protocol until ctx ends (exit 130/143), then stops what it started.
func Cmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("agent", stderr)
	var c Config
	var cpus string
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "control address HOST:PORT (port 0 picks a free port); non-loopback needs a token")
	fs.StringVar(&c.Token, "token", "", "shared token every request must carry (default $"+TokenEnv+"; prefer the variable: flags show in the process list)")
	fs.StringVar(&c.ServeHost, "serve-host", "", "host the servers under test listen on (default: the host of --listen)")
	fs.StringVar(&cpus, "cpus", "", "pin the agent and every process it starts to these CPUs, e.g. 0 or 1-3 (default: not pinned)")
	if err := cli.Parse(fs, args, false); err != nil {
		return err
	}
	if c.Token == "" {
		c.Token = os.Getenv(TokenEnv)
	}
	c.Log = stderr
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return cli.Usagef("bad --listen %q: %v", c.Listen, err)
	}
	if cpus != "" {
		set, err := ParseCPUs(cpus)
		if err != nil {
			return cli.Usage(err)
		}
		c.CPUs = set
		if err := harness.PinSelf(set); err != nil {
			return cli.Failure(fmt.Errorf("pinning to CPUs %s: %w", cpus, err))
		}
	}
	a, err := New(c)
	if err != nil {
		return cli.Usage(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return cli.Usage(err)
	}
	if c.Token == "" {
		fmt.Fprintf(stderr, "agent: no token: every process on this host may command this agent\n")
	}
	// A peer that trickles its request is cut off (ReadTimeout covers the body); replies may
	// take long (long polls, a load's drain), so there is no WriteTimeout.
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	if _, err := fmt.Fprintf(stdout, "listening on %s\n", ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return cli.Failure(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.stop() // long polls and loads end now, so Shutdown need not wait for them
	srv.Shutdown(sctx)
	return cli.Interrupted(errors.New("agent stopped"))
}

// ParseCPUs parses a CPU list such as "0", "1-3" or "0,2-3".
func ParseCPUs(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= 1024 {
			return nil, fmt.Errorf("bad CPU list %q (want e.g. 0 or 1-3 or 0,2-3)", s)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
