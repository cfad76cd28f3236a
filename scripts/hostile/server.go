package main

import (
	"bufio"
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

	"github.com/iobench/iobench/harness"
)

// server is one `iobench serve --control` child: the server under attack, in its own process
// so its CPU time and open fds are its own (/proc/PID/stat, /proc/PID/fd).
type server struct {
	name   string // backend/config, for messages
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout lines after "listening on": stats answers
	addr   string
	exited chan struct{}
	err    error // Wait's result, once exited is closed

	mu     sync.Mutex
	stderr strings.Builder
	base   int // open fds once warmed up
}

// userHZ is the unit of utime and stime in /proc/PID/stat (proc(5): USER_HZ, 100 on Linux).
const userHZ = 100

// startServer runs bin serve --control args; nofile > 0 runs it under `ulimit -n nofile`
// (soft and hard: the Go runtime raises a soft limit to the hard one at start).
func startServer(name, bin string, nofile int, args ...string) (*server, error) {
	argv := append([]string{"serve", "--control"}, args...)
	cmd := exec.Command(bin, argv...)
	if nofile > 0 {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `ulimit -n ` + strconv.Itoa(nofile) + ` && exec "$0" "$@"`, bin}, argv...)...)
	}
	s := &server{name: name, cmd: cmd, lines: make(chan string, 4), exited: make(chan struct{})}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stderr.Len() < 16<<10 {
			s.stderr.Write(p)
		}
		return len(p), nil
	})
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for n := 0; sc.Scan(); n++ {
			if n == 0 {
				first <- sc.Text()
				continue
			}
			s.lines <- sc.Text()
		}
		close(first)
		close(s.lines)
	}()
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	select {
	case l := <-first:
		a, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			s.kill()
			return nil, fmt.Errorf("%s: no listening line (got %q): %s", name, l, s.errText())
		}
		s.addr = a
	case <-time.After(20 * time.Second):
		s.kill()
		return nil, fmt.Errorf("%s: not listening after 20 s: %s", name, s.errText())
	}
	return s, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *server) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.stderr.String())
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// alive fails if the server process has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("the server exited (%v): %s", s.err, s.errText())
	default:
		return nil
	}
}

// stats asks for one ServerStats line.
func (s *server) stats() (harness.ServerStats, error) {
	var st harness.ServerStats
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return st, fmt.Errorf("stats: %w (%v)", err, s.alive())
	}
	select {
	case l, ok := <-s.lines:
		if !ok {
			return st, fmt.Errorf("stats: %v", s.alive())
		}
		return st, json.Unmarshal([]byte(l), &st)
	case <-time.After(10 * time.Second):
		return st, errors.New("the server did not answer a stats command within 10 s (wedged)")
	}
}

// waitStats polls stats until ok holds or the deadline; what names the condition.
func (s *server) waitStats(what string, timeout time.Duration, ok func(harness.ServerStats) bool) (harness.ServerStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.stats()
		if err != nil {
			return st, err
		}
		if ok(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%s: not within %v (live %d, accepted %d, refused %d, accept errors %d)",
				what, timeout, st.Service.Live, st.Service.Accepted, st.Service.Refused, st.Service.AcceptErrors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpu is the server's user+system CPU time so far.
func (s *server) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", s.pid())
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// fds counts the server's open file descriptors.
func (s *server) fds() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid()))
	return len(ents), err
}

// stop asks the server to quit; a nonzero exit or anything on its stderr is an error (the
// servers under attack log nothing: a line per hostile connection is noise under load).
func (s *server) stop() error {
	io.WriteString(s.stdin, "quit\n")
	s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.kill()
		return errors.New("the server did not stop within 15 s of quit (killed)")
	}
	if s.err != nil {
		return fmt.Errorf("the server exited with %v: %s", s.err, s.errText())
	}
	if e := s.errText(); e != "" {
		return fmt.Errorf("the server wrote to stderr: %s", e)
	}
	return nil
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}
