// Command iobench compares network I/O models (IOCP, RIO, Go net, gnet, netpoll, epoll,
// io_uring) by running the same server apps on each and measuring them. It is a thin main:
// each subcommand is a testable func(ctx, args, stdout, stderr) error in its package.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"

	"github.com/iobench/iobench/agent"
	"github.com/iobench/iobench/deploy"
	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/plots"
)

// The backends are linked by backends.go, generated from the tree (go generate ./cmd/iobench).

type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

var commands = map[string]command{
	"run":      {harness.RunCmd, "the main job: the default suite on every backend here, results and report in one folder"},
	"serve":    {harness.ServeCmd, "one backend serving one protocol on one address"},
	"load":     {harness.LoadCmd, "the load generator against any target address"},
	"report":   {plots.ReportCmd, "plots and an HTML report from one or more results folders"},
	"agent":    {agent.Cmd, "runs servers and load shares on command of a coordinator on another host (iobench run --server-agent/--load-agents)"},
	"backends": {harness.BackendsCmd, "which backends this platform has, and why the others are unavailable"},
	"deploy":   {deploy.Cmd, "print a Docker Swarm stack or Kubernetes manifests that run a suite across hosts"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: iobench <command> [flags]  (iobench <command> -h for its flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
}

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

func mainCode(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "iobench: unknown command %q\n", args[0])
		usage(stderr)
		return cli.ExitUsage
	}
	// A Docker secret is a file, and the image has no shell to read it into IOBENCH_TOKEN.
	if f := os.Getenv(deploy.TokenFileEnv); f != "" {
		if err := deploy.LoadTokenFile(f); err != nil {
			fmt.Fprintf(stderr, "iobench: %s: %v\n", deploy.TokenFileEnv, err)
			return cli.ExitFailure
		}
	}
	ctx, got, stop := signalContext()
	defer stop()
	err := cmd.run(ctx, args[1:], stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "iobench %s: %v\n", args[0], err)
	}
	code := cli.Code(err)
	if s, ok := got().(syscall.Signal); ok && code == cli.ExitInterrupted {
		code = cli.SignalCode(int(s)) // 130 for SIGINT, 143 for SIGTERM
	}
	return code
}

// signalContext is cancelled by the first SIGINT or SIGTERM; got reports which one. After the
// first signal the default handling is restored, so a second Ctrl-C ends the process at once
// even if a command were slow to notice the first.
func signalContext() (ctx context.Context, got func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var mu sync.Mutex
	var sig os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			mu.Lock()
			sig = s
			mu.Unlock()
			signal.Stop(ch)
			cancel()
		case <-done:
		}
	}()
	got = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return sig
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
	return ctx, got, stop
}
