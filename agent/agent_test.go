package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/proto"
)

var testExe string

// TestMain builds cmd/iobench once: agents and their serve children are real processes.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "iobench-agent-test-")
	if err != nil {
		panic(err)
	}
	testExe = filepath.Join(dir, "iobench")
	if runtime.GOOS == "windows" {
		testExe += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", testExe, "github.com/iobench/iobench/cmd/iobench").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build cmd/iobench: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// An agent refuses every request without the right token with 401 and logs it.
func TestTokenRequired(t *testing.T) {
	var log syncBuf
	a, err := New(Config{Token: "s3cret", Listen: "127.0.0.1:0", Exe: testExe, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
		logged                   string
	}{
		{"no token", "GET", "/v1/info", "", http.StatusUnauthorized, "no token"},
		{"wrong token", "GET", "/v1/time", "Bearer s3creT", http.StatusUnauthorized, "wrong token"},
		{"no token starting a server", "POST", "/v1/servers", "", http.StatusUnauthorized, "no token"},
		{"token without Bearer", "GET", "/v1/info", "s3cret", http.StatusUnauthorized, "no token"},
		{"longer token", "POST", "/v1/loads", "Bearer s3cret0", http.StatusUnauthorized, "wrong token"},
		{"right token", "GET", "/v1/info", "Bearer s3cret", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(log.String(), "(401)")
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(`{"backend":"netstd"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			after := strings.Count(log.String(), "(401)")
			if tc.want == http.StatusUnauthorized {
				if after != before+1 || !strings.Contains(log.String(), tc.logged) || !strings.Contains(log.String(), tc.path) {
					t.Fatalf("refusal not logged: %q", log.String())
				}
			} else if after != before {
				t.Fatalf("accepted request logged as refused: %q", log.String())
			}
		})
	}
	if strings.Contains(log.String(), "started") {
		t.Fatalf("a refused request started something: %q", log.String())
	}
}

// Without a token an agent listens on loopback only: any other address is refused at start
// with one line and a nonzero exit.
func TestRefusesNonLoopbackWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		listen string
		refuse bool
	}{
		{"0.0.0.0:0", true}, {":0", true}, {"[::]:0", true}, {"192.0.2.1:0", true}, {"example.com:0", true},
		{"127.0.0.1:0", false}, {"[::1]:0", false}, {"localhost:0", false},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			_, err := New(Config{Listen: tc.listen, Exe: testExe})
			if (err != nil) != tc.refuse {
				t.Fatalf("New: %v, want refused %v", err, tc.refuse)
			}
		})
	}
	t.Run("command", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, testExe, "agent", "--listen", "0.0.0.0:0")
		cmd.Env = append(os.Environ(), TokenEnv+"=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != cli.ExitUsage {
			t.Fatalf("exit %v, want %d", err, cli.ExitUsage)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "without a token") || stdout.Len() != 0 {
			t.Fatalf("stderr %q stdout %q: want one clear line", stderr.String(), stdout.String())
		}
	})
	t.Run("token from the environment", func(t *testing.T) {
		addr, _ := startAgent(t, "tok", "--listen", "0.0.0.0:0") // accepted: the variable is set
		if !strings.Contains(addr, ":") {
			t.Fatalf("listening on %q", addr)
		}
	})
}

// startAgent runs `iobench agent` as a child process with IOBENCH_TOKEN=token and returns the
// address it listens on and its stderr.
func startAgent(tb testing.TB, token string, args ...string) (string, *syncBuf) {
	tb.Helper()
	if len(args) == 0 {
		args = []string{"--listen", "127.0.0.1:0"}
	}
	cmd := exec.Command(testExe, append([]string{"agent"}, args...)...)
	cmd.Env = append(os.Environ(), TokenEnv+"="+token)
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
				tb.Errorf("agent exit on SIGTERM: %v, want 143; stderr %s", err, stderr)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			tb.Errorf("agent did not stop on SIGTERM")
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			tb.Fatalf("first line %q; stderr %s", l, stderr)
		}
		return addr, stderr
	case <-time.After(20 * time.Second):
		tb.Fatalf("agent not listening; stderr %s", stderr)
	}
	return "", nil
}

func client(tb testing.TB, addr, token string) *harness.AgentClient {
	tb.Helper()
	c, err := harness.NewAgentClient(addr, token)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func alive(pid int) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (state Z) has exited.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// A real serve child started, probed and stopped through an agent, and a load share run
// through it against that server.
func TestServerAndLoadThroughAgent(t *testing.T) {
	addr, stderr := startAgent(t, "tok")
	c := client(t, addr, "tok")
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil || info.PID == 0 || info.ServeHost != "127.0.0.1" {
		t.Fatalf("info %+v: %v", info, err)
	}
	host := &harness.RemoteServers{Agent: c}
	srv, err := host.Start(ctx, harness.ServerSpec{Backend: "netstd", Args: []string{"--proto", "framed"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := harness.ServerPID(srv)
	if pid == 0 {
		t.Fatal("no server pid")
	}
	if runtime.GOOS == "linux" && !alive(pid) {
		t.Fatalf("server pid %d not running", pid)
	}
	srv.PrepareWindow(false)

	wl := harness.WireLoad{Target: srv.Addr(), Proto: string(proto.Framed), Conns: 4, Size: 64, Depth: 1,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, ClientBackend: "netstd", SrcBase: 100}
	var job struct{ ID string }
	if err := c.Do(ctx, "POST", "/v1/loads", 10*time.Second, wl, &job); err != nil {
		t.Fatal(err)
	}
	var st LoadStatus
	if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID+"?wait=connected&timeout_ms=10000", 20*time.Second, nil, &st); err != nil || st.State != StateConnected {
		t.Fatalf("state %+v: %v", st, err)
	}
	if err := srv.WaitReady(4, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	off, rtt, err := c.ClockOffset(ctx, 5)
	if err != nil || rtt <= 0 || off > 50*time.Millisecond || off < -50*time.Millisecond {
		t.Fatalf("clock offset %v rtt %v on one host: %v", off, rtt, err)
	}
	start := time.Now().Add(100 * time.Millisecond)
	if err := c.Do(ctx, "POST", "/v1/loads/"+job.ID+"/go", quickT, map[string]int64{"start_unix_ns": start.Add(off).UnixNano()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/loads/"+job.ID+"/go", quickT, map[string]int64{"start_unix_ns": start.UnixNano()}, nil); err == nil {
		t.Fatal("a second go was accepted")
	}
	time.Sleep(time.Until(start.Add(wl.Warmup)))
	srv.BeginWindow()
	time.Sleep(wl.Duration)
	srv.EndWindow()
	if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID+"?wait=done&timeout_ms=30000", 40*time.Second, nil, &st); err != nil || st.State != StateDone {
		t.Fatalf("state %+v: %v", st, err)
	}
	if st.Error != "" || st.Result == nil {
		t.Fatalf("load share: %+v", st)
	}
	res, err := st.Result.Result(harness.LoadConfig{}, off)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Msgs == 0 || uint64(res.Hist.TotalCount()) != res.Msgs || res.Connected != 4 {
		t.Fatalf("share result: msgs %d samples %d connected %d verify %+v", res.Msgs, res.Hist.TotalCount(), res.Connected, res.Verify)
	}
	if from := res.Intervals[0].StartTimeMs(); from < start.UnixMilli() {
		t.Fatalf("window started %d ms before the go instant", start.UnixMilli()-from)
	}
	if err := c.Do(ctx, "DELETE", "/v1/loads/"+job.ID, quickT, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID, quickT, nil, nil); err == nil {
		t.Fatal("deleted load still there")
	}

	w := srv.Window()
	if w.SyscallsErr != nil || w.Before.Stats == nil || w.After.Stats == nil {
		t.Fatalf("server probes: %+v", w)
	}
	if runtime.GOOS == "linux" && (!w.After.Proc.CPUOK || w.After.Proc.CPU < w.Before.Proc.CPU || !w.Idle.MemOK || w.TCPRetransmits == nil) {
		t.Fatalf("proc probes: %+v", w)
	}
	if got := w.After.Stats.Service.Accepted; got < 4 {
		t.Fatalf("server accepted %d connections, want 4", got)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("server pid %d still running after stop", pid)
	}
	for i := 0; i < 100 && !strings.Contains(stderr.String(), "stopped"); i++ {
		time.Sleep(20 * time.Millisecond) // the child's stderr arrives through a pipe
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("agent log %q", stderr)
	}
}

const quickT = 10 * time.Second

// Bad requests with the right token get one clear 4xx and start nothing.
func TestBadRequests(t *testing.T) {
	var log syncBuf
	a, err := New(Config{Token: "t", Listen: "127.0.0.1:0", Exe: testExe, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	huge := `{"backend":"` + strings.Repeat("x", maxBody+10) + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"garbage", "POST", "/v1/servers", "{not json", 400, "bad request body"},
		{"unknown field", "POST", "/v1/servers", `{"backend":"netstd","exec":"/bin/sh"}`, 400, "unknown field"},
		{"no backend", "POST", "/v1/servers", `{}`, 400, "no backend"},
		{"body over 1 MiB", "POST", "/v1/servers", huge, 400, "too large"},
		{"bad backend", "POST", "/v1/servers", `{"backend":"nosuch"}`, 409, "nosuch"},
		{"unknown server", "POST", "/v1/servers/s99/stop", "", 404, "no server"},
		{"unknown server op", "GET", "/v1/servers/s1/window", "", 404, "no server"},
		{"unknown load", "GET", "/v1/loads/l7", "", 404, "no load"},
		{"bad load", "POST", "/v1/loads", `{"target":"127.0.0.1:1","proto":"framed","conns":0,"size":64,"depth":1,"duration_ns":1000000,"warmup_ns":0,"src_base":0,"client_backend":"netstd"}`, 400, "conns"},
		{"unknown path", "GET", "/v1/nothing", "", 404, ""},
		{"wrong method", "DELETE", "/v1/servers", "", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer t")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, body, tc.want, tc.msg)
			}
		})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.servers) != 0 || len(a.loads) != 0 {
		t.Fatalf("bad requests left %d servers, %d loads", len(a.servers), len(a.loads))
	}
}

// A load share with a bad request body in its wait or go is refused; a share never told to go
// can be cancelled and deleted, and ends.
func TestLoadJobControl(t *testing.T) {
	agentAddr, _ := startAgent(t, "t") // the binary: it links the client backends
	c := client(t, agentAddr, "t")
	ctx := context.Background()
	// A target that accepts and never answers: the share connects and waits for its go.
	addr := silentServer(t)
	wl := harness.WireLoad{Target: addr, Proto: "framed", Conns: 2, Size: 64, Depth: 1, Duration: time.Second, ClientBackend: "netstd"}
	var job struct{ ID string }
	if err := c.Do(ctx, "POST", "/v1/loads", quickT, wl, &job); err != nil {
		t.Fatal(err)
	}
	var st LoadStatus
	if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID+"?wait=connected&timeout_ms=10000", 20*time.Second, nil, &st); err != nil || st.State != StateConnected {
		t.Fatalf("%+v %v", st, err)
	}
	for _, q := range []string{"?wait=running", "?timeout_ms=-1", "?timeout_ms=999999999"} {
		if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID+q, quickT, nil, nil); err == nil {
			t.Errorf("%s accepted", q)
		}
	}
	if err := c.Do(ctx, "POST", "/v1/loads/"+job.ID+"/go", quickT, map[string]int64{"start_unix_ns": -5}, nil); err == nil {
		t.Error("a go at a negative instant accepted")
	}
	if err := c.Do(ctx, "POST", "/v1/loads/"+job.ID+"/cancel", quickT, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/v1/loads/"+job.ID+"?wait=done&timeout_ms=10000", 20*time.Second, nil, &st); err != nil || st.State != StateDone || st.Error == "" {
		t.Fatalf("cancelled share: %+v %v", st, err)
	}
	if err := c.Do(ctx, "DELETE", "/v1/loads/"+job.ID, quickT, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// silentServer accepts connections and never reads or writes.
func silentServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
