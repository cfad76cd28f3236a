package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serverProc is an `iobench serve --control` child process: the server under test in its own
// process, so its CPU, memory and syscalls are its own.
type serverProc struct {
	*control
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	err    error // Wait's result, after done
}

// control is the harness's end of a server's control channel (`serve --control`): commands
// go to w, and each "stats" is answered by one JSON line on lines.
type control struct {
	mu    sync.Mutex
	w     io.Writer
	lines <-chan string // stdout lines after "listening on"
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 64<<10 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs exe serve --control with args and waits for "listening on HOST:PORT".
func startServer(ctx context.Context, exe string, args []string) (*serverProc, error) {
	full := append([]string{"serve", "--control"}, args...)
	cmd := exec.Command(exe, full...)
	lines := make(chan string, 16)
	p := &serverProc{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	p.control = &control{w: p.stdin, lines: lines}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		n := 0
		for sc.Scan() {
			if n == 0 {
				first <- sc.Text()
			} else {
				select {
				case lines <- sc.Text():
				default: // nobody asked: drop rather than block the child
				}
			}
			n++
		}
		if n == 0 {
			close(first)
		}
		close(lines)
	}()
	go func() { p.err = cmd.Wait(); close(p.done) }()
	select {
	case l, ok := <-first:
		if !ok || !strings.HasPrefix(l, "listening on ") {
			p.kill()
			return nil, fmt.Errorf("serve %s: no listening line (got %q): %s", strings.Join(args, " "), l, strings.TrimSpace(p.stderr.String()))
		}
		p.addr = strings.TrimSpace(strings.TrimPrefix(l, "listening on "))
	case <-time.After(15 * time.Second):
		p.kill()
		return nil, fmt.Errorf("serve %s: not listening after 15 s: %s", strings.Join(args, " "), p.stderr.String())
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
	return p, nil
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// stats asks the server for one ServerStats line.
func (c *control) stats() (ServerStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st ServerStats
	if _, err := io.WriteString(c.w, "stats\n"); err != nil {
		return st, err
	}
	select {
	case l, ok := <-c.lines:
		if !ok {
			return st, errors.New("server exited")
		}
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			return st, fmt.Errorf("server stats %q: %w", l, err)
		}
		return st, nil
	case <-time.After(5 * time.Second):
		return st, errors.New("server did not answer stats")
	}
}

// waitReady polls the server's stats until its app has exactly n sessions, every one through
// OnConnect (ServerStats.Ready), and its pool no other (Service.Live): only then is, e.g.,
// every broadcast room complete, so that no member misses its room-mates' first messages.
// n = 0 waits for a server with no session left (between two loads on one server).
func (c *control) waitReady(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.stats()
		if err != nil {
			return err
		}
		if st.Ready == int64(n) && st.Service.Live == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server app has %d sessions through OnConnect and %d live, want %d, after %v", st.Ready, st.Service.Live, n, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop asks the server to quit and waits; it kills it if it lingers.
func (p *serverProc) stop() error {
	io.WriteString(p.stdin, "quit\n")
	p.stdin.Close()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("server exited: %v: %s", p.err, strings.TrimSpace(p.stderr.String()))
		}
		return nil
	case <-time.After(10 * time.Second):
		p.kill()
		return errors.New("server did not stop within 10 s (killed)")
	}
}

// kill ends the server at once (SIGKILL): a crash, for the reconnect scenario.
func (p *serverProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// serverExe is the iobench binary run as the server (os.Executable unless overridden, e.g.
// by tests that built the binary).
func serverExe(override string) (string, error) {
	if override != "" {
		return override, nil
	}
	if e := os.Getenv("IOBENCH_EXE"); e != "" {
		return e, nil
	}
	return os.Executable()
}

func itoa(i int) string { return strconv.Itoa(i) }
