package apps_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/proto"
)

// loggingEcho serves the logging app over log on backend and runs conns framed clients of n
// messages each against it, all verified, until every session ended (recv_0).
func loggingEcho(t *testing.T, backend string, log models.LogFile, conns, n int) models.Handler {
	t.Helper()
	h, err := apps.New("logging", apps.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, backend, h, models.Config{})
	var peers []peer
	for i := range conns {
		codec, err := proto.NewClient(proto.Framed, 64, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, peer{modeltest.Dial(t, srv.addr), codec})
	}
	exchangeAll(t, peers, n)
	srv.waitReason(t, conns, models.KickRecv0)
	return h
}

// TestLoggingLines: on every backend, one line per message reaches the file: as many lines as
// messages, each (source, sequence) once, one session ID per connection.
func TestLoggingLines(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		path := filepath.Join(t.TempDir(), "app.log")
		log, err := models.OpenLogFile(path, models.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		const conns, n = 4, 200
		h := loggingEcho(t, backend, log, conns, n)
		if st := stats(t, h); st["log_appended"] != conns*n {
			t.Errorf("app stats %v: want %d lines appended", st, conns*n)
		}
		st, err := log.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Appended != conns*n || st.Written != st.Appended || st.Dropped != 0 {
			t.Fatalf("log stats %+v: want %d lines, all written", st, conns*n)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		seen, sessions := map[string]bool{}, map[uint64]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ts int64
			var sess, src, seq, n uint64
			if _, err := fmt.Sscanf(sc.Text(), "t=%d sess=%d src=%d seq=%d len=%d", &ts, &sess, &src, &seq, &n); err != nil || n != 64 || ts <= 0 {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			key := fmt.Sprint(src, "/", seq)
			if seen[key] {
				t.Fatalf("message %s logged twice", key)
			}
			seen[key], sessions[sess] = true, true
		}
		if len(seen) != conns*n || len(sessions) != conns {
			t.Fatalf("file: %d messages from %d sessions, want %d from %d", len(seen), len(sessions), conns*n, conns)
		}
	})
}

// stuckWriter never returns from Write until released: a disk that stopped.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestLoggingDiskStalled: with the log's writer stuck, the echo goes on unaffected: every
// message is answered, the lines that do not fit the queue are dropped and counted, and once
// the disk is back Close accounts for every line (appended = written + dropped).
func TestLoggingDiskStalled(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		w := stuckWriter{release: make(chan struct{})}
		log, err := models.NewLogWriter(w, models.LogOptions{BatchBytes: 4096, Batches: 2, FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		const conns, n = 4, 500
		h := loggingEcho(t, backend, log, conns, n)
		st := stats(t, h)
		if st["log_appended"] != conns*n || st["log_dropped"] == 0 || st["log_written"] != 0 {
			t.Errorf("stalled log: app stats %v; want %d appended, some dropped, none written", st, conns*n)
		}
		close(w.release)
		ls, err := log.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ls.Appended != conns*n || ls.Written+ls.Dropped != ls.Appended || ls.Dropped != st["log_dropped"] {
			t.Fatalf("log stats %+v after the release (dropped while stalled %d)", ls, st["log_dropped"])
		}
	})
}

// TestLoggingUnwritable: a log whose file is closed under it counts write errors; the echo is
// unaffected.
func TestLoggingUnwritable(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		f, err := os.Create(filepath.Join(t.TempDir(), "gone.log"))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		log, err := models.NewLogWriter(f, models.LogOptions{FlushInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		h := loggingEcho(t, backend, log, 2, 100)
		modeltest.WaitFor(t, "a failed log write", func() bool { return stats(t, h)["log_write_errors"] > 0 })
		st, err := log.Close()
		if err == nil || st.Written != 0 || st.Dropped != 200 || st.Appended != 200 {
			t.Fatalf("log stats %+v, %v: want 200 lines dropped and an error", st, err)
		}
	})
}

func TestLoggingNeedsLog(t *testing.T) {
	if _, err := apps.New("logging", apps.Options{}); err == nil {
		t.Fatal("logging app without a log file: no error")
	}
	for _, name := range apps.Names {
		opt := apps.Options{}
		if name == "logging" {
			l, err := models.NewLogWriter(stuckWriter{}, models.LogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			opt.Log = l
			defer l.Close()
		}
		if _, err := apps.New(name, opt); err != nil {
			t.Errorf("apps.New(%q): %v", name, err)
		}
	}
}
