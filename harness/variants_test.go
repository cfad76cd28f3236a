package harness

import (
	"context"
	"encoding/json"
	"io"
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
