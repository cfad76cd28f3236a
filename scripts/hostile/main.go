// Command hostile replays the hostile-client probes of issue 11 against every Linux backend
// through a real `iobench serve` child (the binary is built once): garbage and oversize
// frames, truncated frames then close and then reset (framed, sockperf, broadcast), pool
// exhaustion (--pool 4), a slow consumer that never reads, a reset storm, a connection storm
// under `ulimit -n 256` (EMFILE), and silent connections and a slowloris under --hardened
// with a short --idle-timeout.
//
// After every probe it checks the server: still running and answering its control channel;
// no spin (its CPU time from /proc/PID/stat over a second with nothing to do stays under a
// quarter of a core); no leak (its sessions end: Live 0 in `--control` stats, and its open
// fds, /proc/PID/fd, come back to the count it had before the probe); not deaf and not locked
// out (a new valid client is served and its reply verified); and at the end, nothing on its
// stderr. Any failure names the backend and the probe and makes the exit status 1.
//
// Usage (from the repository root; scripts/test.sh runs it):
//
//	go run ./scripts/hostile [-backends epoll,gnet] [-run framed/slow] [-bin path/to/iobench]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// linuxBackends are the backends the probes run against (those `iobench backends` reports
// unavailable here are skipped with a line saying so).
var linuxBackends = []string{"epoll", "gnet", "netpoll", "netstd", "uring"}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backends := fs.String("backends", strings.Join(linuxBackends, ","), "comma-separated backends to attack")
	bin := fs.String("bin", "", "iobench binary (default: build ./cmd/iobench into a temporary directory)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
	only := fs.String("run", "", "run only the probes whose config/probe name matches this regexp")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		fmt.Fprintf(stdout, "hostile: the probes read /proc and run the Linux backends; skipped on %s\n", runtime.GOOS)
		return nil
	}
	match, err := regexp.Compile(*only)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t0 := time.Now()
	if *bin == "" {
		dir, err := os.MkdirTemp("", "iobench-hostile-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*bin = filepath.Join(dir, "iobench")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", *bin, "./cmd/iobench").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/iobench: %v\n%s", err, out)
		}
	}
	avail, err := available(ctx, *bin)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var failed []string
	probes := 0
	report := func(backend string, r result) {
		mu.Lock()
		defer mu.Unlock()
		probes++
		if r.err != nil {
			failed = append(failed, backend+"/"+r.probe)
			fmt.Fprintf(stdout, "FAIL %s/%s: %v\n", backend, r.probe, r.err)
			return
		}
		fmt.Fprintf(stdout, "ok   %s/%s (%.1f s, idle CPU %v, fds %d)\n", backend, r.probe, r.took.Seconds(), r.idleCPU, r.fds)
	}
	var wg sync.WaitGroup
	ran := 0
	for _, b := range strings.Split(*backends, ",") {
		if !avail[b] {
			fmt.Fprintf(stdout, "skip %s: not available here (see iobench backends)\n", b)
			continue
		}
		ran++
		wg.Add(1)
		go func() { // backends in parallel: each server's CPU and fds are its own
			defer wg.Done()
			attack(ctx, *bin, b, match, func(r result) { report(b, r) })
		}()
	}
	wg.Wait()
	took := time.Since(t0).Round(100 * time.Millisecond)
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d probes failed in %v: %s", len(failed), probes, took, strings.Join(failed, ", "))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %v", took)
	}
	fmt.Fprintf(stdout, "hostile: %d probes against %d backends passed in %v\n", probes, ran, took)
	return nil
}

// available runs `iobench backends` and returns the backends it reports available.
func available(ctx context.Context, bin string) (map[string]bool, error) {
	out, err := exec.CommandContext(ctx, bin, "backends").Output()
	if err != nil {
		return nil, fmt.Errorf("iobench backends: %v", err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "available" && slices.Contains(linuxBackends, f[0]) {
			m[f[0]] = true
		}
	}
	return m, nil
}
