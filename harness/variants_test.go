package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// serveStats asks an in-process Serve for one stats line.
func serveStats(t *testing.T, control io.Writer, out *syncBuffer) ServerStats {
	t.Helper()
	if _, err := io.WriteString(control, "stats\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-out.lines:
		var st ServerStats
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			t.Fatalf("stats %q: %v", l, err)
		}
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no stats line")
	}
	return ServerStats{}
}

// `serve --proto logging --log FILE` offers one line per message served, and at exit the file
// holds every line written; written + dropped = offered = messages sent.
func TestServeLoggingCountsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.log")
	if err := os.WriteFile(path, []byte("an older line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, control, out := startServeConfig(t, ServeConfig{Backend: "netstd", App: "logging", LogPath: path})
	c := LoadConfig{Target: addr, Proto: proto.Framed, Conns: 4, Size: 64, Depth: 2,
		Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond}
	res, err := Load(context.Background(), c)
	if err != nil || !res.OK() {
		t.Fatalf("load: %v %+v %s", err, res.Verify, res.FirstError)
	}
	st := serveStats(t, control, out)
	app, dropped := st.AppStats["log_appended"], st.AppStats["log_dropped"]
	if app != res.Verify.Sent || app == 0 {
		t.Fatalf("log offered %d lines for %d messages sent", app, res.Verify.Sent)
	}
	io.WriteString(control, "quit\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := countLines(path)
		if err == nil && n == 1+app-dropped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file has %d lines (%v), want 1 + %d offered - %d dropped", n, err, app, dropped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Split(string(b), "\n"); !strings.HasPrefix(lines[1], "t=") || !strings.Contains(lines[1], " seq=") {
		t.Fatalf("log line %q", lines[1])
	}
}

// fakeLogServer is a Server (its other methods unused) with a log account.
type fakeLogServer struct {
	Server
	st      ServerStats
	path    string
	stopErr error
}

func (f *fakeLogServer) ServerStats() (ServerStats, error) { return f.st, nil }
func (f *fakeLogServer) logPath() string                   { return f.path }
func (f *fakeLogServer) Stop() error                       { return f.stopErr }

func TestLogVerification(t *testing.T) {
	w := Workload{App: "logging"}
	stats := func(app, wr, dr uint64) ServerStats {
		return ServerStats{AppStats: map[string]uint64{"log_appended": app, "log_written": wr, "log_dropped": dr}}
	}
	t.Run("lines offered equal messages sent, per load", func(t *testing.T) {
		r := &runner{}
		srv := &fakeLogServer{st: stats(100, 90, 10)}
		var f results.Figures
		if err := r.logCounts(srv, w, &LoadResult{Verify: results.Verify{Sent: 100}}, &f); err != nil {
			t.Fatal(err)
		}
		if f.Log == nil || *f.Log != (results.LogCounts{Appended: 100, Written: 90, Dropped: 10}) || !strings.Contains(f.Note, "10 of 100 lines dropped") {
			t.Fatalf("log %+v note %q", f.Log, f.Note)
		}
		srv.st = stats(150, 140, 10) // the second load on the server: its own delta
		if err := r.logCounts(srv, w, &LoadResult{Verify: results.Verify{Sent: 49}}, &f); err == nil || !strings.Contains(err.Error(), "50 lines offered for 49 messages") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("the file holds offered minus dropped", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			lines int
			ok    bool
		}{{"complete", 4, true}, {"a line missing", 3, false}} {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "s.log")
				os.WriteFile(path, []byte(strings.Repeat("x\n", tc.lines)), 0o644)
				srv := &fakeLogServer{path: path}
				r := &runner{logSeen: map[Server]results.LogCounts{}}
				r.logSeen[srv] = results.LogCounts{Appended: 5, Written: 4, Dropped: 1}
				err := r.stopServer(srv)
				_, statErr := os.Stat(path)
				if tc.ok && (err != nil || statErr == nil) {
					t.Fatalf("err %v; the checked file should be removed (stat %v)", err, statErr)
				}
				if !tc.ok && (err == nil || statErr != nil) {
					t.Fatalf("err %v; a file that does not check out is kept (stat %v)", err, statErr)
				}
			})
		}
	})
}

// A variant workload runs every label twice, its plain side under the plain app and framed.
func TestPairLabels(t *testing.T) {
	r := &runner{labels: []label{{Name: "epoll", Backend: "epoll"}, {Name: "netstd#aa", Backend: "netstd"}}}
	w := Workload{Scenario: results.ScenarioCrypto, App: "crypto", Proto: protoCrypto, Plain: "framed", Conns: 2, Size: 64, Depth: 1}
	if got := r.planned(w); got != 4*r.reps(w) {
		t.Fatalf("planned %d", got)
	}
	restore := r.pairLabels(w)
	var keys []string
	for _, l := range r.labels {
		lw := l.workload(w)
		keys = append(keys, l.key()+":"+lw.App+"/"+string(lw.Proto))
	}
	restore()
	want := "epoll:crypto/crypto epoll/framed:framed/framed netstd#aa:crypto/crypto netstd#aa/framed:framed/framed"
	if strings.Join(keys, " ") != want || len(r.labels) != 2 {
		t.Fatalf("labels %v (restored to %d)", keys, len(r.labels))
	}
	res := r.newResult(label{Name: "epoll", Backend: "epoll", App: "framed", Proto: proto.Framed}, label{App: "framed", Proto: proto.Framed}.workload(w))
	if res.Proto != "framed" || res.Scenario != results.ScenarioCrypto || capKey(res) != "epoll/framed" {
		t.Fatalf("plain side result %s %s key %s", res.Scenario, res.Proto, capKey(res))
	}
}

// The crypto load opens and verifies every reply: a server that seals a reply wrongly (its
// tag damaged) or sends the client's own sealed frame back (the wrong key) is caught and counted corrupt.
func TestCryptoLoadVerifiesReplies(t *testing.T) {
	cases := []struct {
		name   string
		damage func(frame []byte, i int) []byte
	}{
		{"bad_tag", func(f []byte, i int) []byte {
			if i == 20 {
				f[len(f)-1] ^= 1
			}
			return f
		}},
		{"plain_echo", func(f []byte, i int) []byte { return nil }}, // nil: the client's frame goes back as it came
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := startRawServer(t, func(c net.Conn) {
				hello := make([]byte, proto.CryptoHelloSize)
				if _, err := io.ReadFull(c, hello); err != nil {
					return
				}
				sh, sess, err := proto.CryptoRespond(hello, proto.CryptoLimits{})
				if err != nil {
					return
				}
				c.Write(sh)
				buf := make([]byte, 64+proto.CryptoOverhead)
				for i := 0; ; i++ {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					plain, err := sess.Open(nil, buf)
					if err != nil {
						return
					}
					out, _ := sess.AppendSeal(nil, plain)
					if d := tc.damage(out, i); d != nil {
						out = d
					} else {
						out = buf
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			})
			res, err := Load(context.Background(), LoadConfig{Target: addr, Proto: protoCrypto, Conns: 2, Size: 64 + proto.CryptoOverhead, Depth: 1,
				Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: 200 * time.Millisecond})
			if err == nil && res.OK() {
				t.Fatalf("a damaged reply passed: %+v", res.Verify)
			}
			if res != nil && res.Verify.Corrupt == 0 {
				t.Fatalf("not counted corrupt: %+v %s (%v)", res.Verify, res.FirstError, err)
			}
		})
	}
}

// A variant workload through Run: both apps on every label, one ladder for both, the log
// verified and its file removed once its lines were counted.
func TestRunVariants(t *testing.T) {
	ms := 300 * time.Millisecond
	wls := []Workload{
		{Scenario: results.ScenarioLogging, App: "logging", Plain: "framed", Proto: proto.Framed, Conns: 4, Size: 64, Depth: 1,
			Ladder: true, Warmup: 100 * time.Millisecond, Duration: ms, ProbeDuration: ms},
		{Scenario: results.ScenarioCrypto, App: "crypto", Plain: "framed", Proto: protoCrypto, Conns: 4, Size: 64, Depth: 1,
			Ladder: true, Warmup: 100 * time.Millisecond, Duration: ms, ProbeDuration: ms},
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "test", Workloads: wls, Reps: 1, Ladder: []float64{0.5},
		Backends: []string{"netstd"}, AA: AANone, Out: out, Exe: testExe, NoReport: true}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	pairs := results.VariantPairs(run)
	if len(pairs) != 4 { // 2 scenarios × (capacity, 50 %)
		t.Fatalf("%d variant pairs, want 4:\n%s", len(pairs), stderr.String())
	}
	for _, p := range pairs {
		for _, r := range []*results.Result{p.Variant, p.Plain} {
			if r.Error != "" || r.Verify == nil || r.Verify.Sent == 0 || !r.Verify.OK() {
				t.Errorf("%s %s %s: error %q verify %+v", r.Scenario, r.Proto, r.Name(), r.Error, r.Verify)
			}
		}
		if p.Variant.Scenario == results.ScenarioLogging {
			l := p.Variant.Figures.Log
			if l == nil || l.Appended != p.Variant.Verify.Sent {
				t.Errorf("logging %s: log %+v for %d messages sent", p.Label, l, p.Variant.Verify.Sent)
			}
		}
	}
	if len(run.Capacities) != 2 || run.Capacities[0].PerBackend["netstd/framed"] == 0 || run.Capacities[0].PerBackend["netstd"] == 0 {
		t.Fatalf("capacities %+v", run.Capacities)
	}
	if left, _ := filepath.Glob(filepath.Join(out, "logs", "*")); len(left) != 0 {
		t.Fatalf("log files left behind: %v", left)
	}
}
