package modeltest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// The accept_emfile case runs the server in a child process (this test binary again, running
// only this case with childEnv set) whose soft RLIMIT_NOFILE is a few descriptors above what
// it uses, so a connect storm from the parent runs it out of file descriptors (EMFILE) on
// accept. A child, because the limit is per process: lowering the test process's own would
// starve the test.
const (
	childEnv = "IOBENCH_MODELTEST_CHILD"
	childTag = "modeltest-child:"
	// emfileHeadroom is how many descriptors the child may open beyond those it has at start:
	// its engine's loops and listener take some, connections the rest.
	emfileHeadroom = 48
	// emfileStorm is how many connections the parent opens and holds.
	emfileStorm = 300
)

// testAcceptEMFILE: a SERVER whose process runs out of file descriptors while a storm of
// connections arrives counts the failed accepts (ServiceStats.AcceptErrors), keeps its
// listener, and once the storm is gone serves a new client; its sessions and fds come back.
// A backend that stops accepting, or closes its listener, on EMFILE fails here.
func testAcceptEMFILE(t *testing.T, backend string) {
	if os.Getenv(childEnv) == "accept_emfile" {
		emfileChild(t, backend)
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no per-process open-file limit to run a server out of (no RLIMIT_NOFILE)")
	}
	ch := startChild(t)
	addr := ch.expect(t, "addr")
	base, haveFDs := processFDs(ch.cmd.Process.Pid)

	var storm []net.Conn
	dialErrs := 0
	for range emfileStorm {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			dialErrs++
			continue
		}
		storm = append(storm, c)
	}
	t.Logf("storm: %d connections open, %d dials failed (backlog full)", len(storm), dialErrs)
	// Wait for a counted failed accept; meanwhile probe that the listener is still there (a
	// backend that stops on EMFILE closes it: the probe is refused).
	var st childStats
	WaitFor(t, fmt.Sprintf("the child to count a failed accept (ServiceStats.AcceptErrors > 0) with %d connections "+
		"arriving and its open-file limit %d above its use before the engine", emfileStorm, emfileHeadroom), func() bool {
		if st = ch.stats(t); st.acceptErrors > 0 {
			return true
		}
		probe, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Fatalf("the server closed its listener when it ran out of fds (accepted %d, live %d): %v\nchild output:\n%s",
				st.accepted, st.live, err, ch.output())
		}
		storm = append(storm, probe)
		time.Sleep(20 * time.Millisecond)
		return false
	})
	t.Logf("child at the limit: accepted %d, live %d, accept errors %d", st.accepted, st.live, st.acceptErrors)
	for _, c := range storm {
		c.Close()
	}

	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("after running out of fds the server no longer accepts: %v (child output:\n%s)", err, ch.output())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	msg := []byte("served after the storm")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write after the storm: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after running out of fds the server no longer serves: read %q, %v (child output:\n%s)", got, err, ch.output())
	}
	c.Close()
	WaitFor(t, "every session of the storm to end (Live == 0)", func() bool { st = ch.stats(t); return st.live == 0 })
	if haveFDs {
		var n int
		WaitFor(t, fmt.Sprintf("the child's open fds back to %d", base), func() bool {
			n, _ = processFDs(ch.cmd.Process.Pid)
			return n <= base
		})
	}
	ch.finish(t)
}

// emfileChild is the server side: the open-file limit first (io_uring, for one, takes the
// limit in force when an accept is armed), then an echo service, then commands from the
// parent on stdin ("stats") until stdin closes.
func emfileChild(t *testing.T, backend string) {
	n, ok := openFDs()
	if !ok {
		n = 64 // no /proc: a guess at what the process uses
	}
	if err := lowerOpenFileLimit(uint64(n + emfileHeadroom)); err != nil {
		t.Fatalf("lower RLIMIT_NOFILE: %v", err)
	}
	eng := Open(t, backend, models.Config{})
	k := Track(t, EchoHandler())
	svc := Listen(t, eng, k, models.ServiceOptions{})
	c := Dial(t, svc.Addr()) // warm up: what a first connection opens lazily is open below
	RoundTrip(t, c, []byte("warm-up"))
	c.Close()
	WaitFor(t, "the warm-up session to end", func() bool { return svc.Stats().Live == 0 })
	fmt.Printf("%s addr %s\n", childTag, svc.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			st := svc.Stats()
			fmt.Printf("%s stats %d %d %d\n", childTag, st.AcceptErrors, st.Live, st.Accepted)
		}
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

type childStats struct {
	acceptErrors, accepted uint64
	live                   int
}

// child is this test binary run as the server of one case.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string   // childTag lines, tag stripped
	exited chan struct{} // closed once the child has exited; err is then set
	err    error

	mu  sync.Mutex
	out bytes.Buffer // everything it printed, for failure messages
}

// startChild re-runs this test binary with only the current (sub)test and childEnv set to the
// case's name; the child is killed at cleanup if still running.
func startChild(t *testing.T) *child {
	t.Helper()
	var pat []string
	for _, p := range strings.Split(t.Name(), "/") {
		pat = append(pat, "^"+regexp.QuoteMeta(p)+"$")
	}
	name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(pat, "/"), "-test.count=1", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	ch := &child{cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{ch}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	ch.stdin = stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			ch.mu.Lock()
			ch.out.WriteString(line + "\n")
			ch.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, childTag+" "); ok {
				ch.lines <- rest
			}
		}
		close(ch.lines)
		ch.err = cmd.Wait()
		close(ch.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-ch.exited:
		default:
			cmd.Process.Kill()
			<-ch.exited
		}
	})
	return ch
}

type lockedWriter struct{ ch *child }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.ch.mu.Lock()
	defer w.ch.mu.Unlock()
	return w.ch.out.Write(p)
}

func (ch *child) output() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.out.String()
}

// expect waits for the child's next line of kind and returns the rest of it.
func (ch *child) expect(t *testing.T, kind string) string {
	t.Helper()
	select {
	case line, ok := <-ch.lines:
		if !ok {
			t.Fatalf("child exited before printing %q:\n%s", kind, ch.output())
		}
		rest, found := strings.CutPrefix(line, kind+" ")
		if !found {
			t.Fatalf("child printed %q, want %q", line, kind)
		}
		return rest
	case <-time.After(waitTimeout):
		t.Fatalf("child printed no %q within %v:\n%s", kind, waitTimeout, ch.output())
	}
	return ""
}

func (ch *child) stats(t *testing.T) childStats {
	t.Helper()
	if _, err := io.WriteString(ch.stdin, "stats\n"); err != nil {
		t.Fatalf("child gone: %v\n%s", err, ch.output())
	}
	var st childStats
	if _, err := fmt.Sscan(ch.expect(t, "stats"), &st.acceptErrors, &st.live, &st.accepted); err != nil {
		t.Fatalf("child stats: %v", err)
	}
	return st
}

// finish closes the child's stdin (its signal to close the engine and return) and requires it
// to exit cleanly.
func (ch *child) finish(t *testing.T) {
	t.Helper()
	ch.stdin.Close()
	select {
	case <-ch.exited:
		if ch.err != nil {
			t.Fatalf("child failed: %v\n%s", ch.err, ch.output())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("child did not exit within %v after its stdin closed:\n%s", waitTimeout, ch.output())
	}
}
