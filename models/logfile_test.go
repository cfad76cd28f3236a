package models_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// logDir is a temporary directory. Not t.TempDir: under Wine, Go's file removal fails (see
// scripts/wine/test.sh), and these tests run there too; a failed removal is only logged.
func logDir(tb testing.TB) string {
	tb.Helper()
	d, err := os.MkdirTemp("", "iobench-log-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			// Leave empty files at least: truncation works where removal does not.
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				os.Truncate(filepath.Join(d, e.Name()), 0)
			}
			tb.Logf("cleanup (files left empty): %v", err)
		}
	})
	return d
}

// line is a fixed-length (32 B) log line carrying writer w and sequence i.
func line(w, i int) []byte { return fmt.Appendf(nil, "w=%04d seq=%020d\n", w, i)[:32] }

// countLines counts the lines of r, each a distinct line() value.
func countLines(r io.Reader) (int, error) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if len(sc.Text()) != 31 || seen[sc.Text()] {
			return len(seen), fmt.Errorf("line %d: bad or duplicate line %q", len(seen), sc.Text())
		}
		seen[sc.Text()] = true
	}
	return len(seen), sc.Err()
}

// within runs f and fails if it does not return in a generous bound: a hang check for the
// "Append never blocks" promise, not a speed check.
func within(tb testing.TB, what string, f func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		tb.Fatalf("%s blocked", what)
	}
}

func settledGoroutines(base int) func() bool {
	return func() bool { return runtime.NumGoroutine() <= base }
}

// TestLogFileNothingLost: 8 goroutines append in rounds no larger than the queue holds,
// waiting for each round to reach the file: nothing may be dropped, and the file holds exactly
// the lines appended, once each.
func TestLogFileNothingLost(t *testing.T) {
	base := runtime.NumGoroutine()
	path := filepath.Join(logDir(t), "app.log")
	opt := models.LogOptions{BatchBytes: 32 * 64, Batches: 4, FlushInterval: time.Millisecond}
	l, err := models.OpenLogFile(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 8, 50
	perRound := opt.Batches * opt.BatchBytes / 32 / writers // one round fits in the full queue
	for r := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perRound {
					if !l.Append(line(w, r*perRound+i)) {
						t.Errorf("Append dropped a line while the disk keeps up")
						return
					}
				}
			}()
		}
		wg.Wait()
		modeltest.WaitFor(t, "round written", func() bool { s := l.Stats(); return s.Written == s.Appended })
	}
	st, err := l.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(writers * rounds * perRound)
	if st.Appended != want || st.Written != want || st.Dropped != 0 || st.WriteErrors != 0 {
		t.Fatalf("stats %+v, want %d appended and written, none dropped", st, want)
	}
	if st.Bytes != want*32 || st.WriteCalls == 0 || st.WriteCalls > want {
		t.Errorf("stats %+v: bytes or write calls off", st)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := countLines(f); err != nil || uint64(n) != want {
		t.Fatalf("file has %d lines (%v), want %d", n, err, want)
	}
	modeltest.WaitFor(t, "writer goroutine gone", settledGoroutines(base))
}

// gateWriter blocks its first Write until released: a disk that stops answering.
type gateWriter struct {
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	buf              bytes.Buffer
	writes           int
}

func newGate() *gateWriter {
	return &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered); <-g.release })
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.buf.Write(p)
}

// TestLogFileStalledDropsExactly: the writer is stuck in a write holding one line; Append
// then fills the current batch and the Batches queued behind it and drops every line after,
// without blocking. After the release and Close every line is written or dropped, the drops
// exactly those counted, in order.
func TestLogFileStalledDropsExactly(t *testing.T) {
	base := runtime.NumGoroutine()
	g := newGate()
	const perBatch, batches = 10, 3
	l, err := models.NewLogWriter(g, models.LogOptions{BatchBytes: perBatch * 32, Batches: batches, FlushInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(line(0, 0))
	<-g.entered // the writer holds the batch of line 0 and is stuck
	const m = 100
	accepted := 0
	within(t, "Append on a stalled log", func() {
		for i := 1; i <= m; i++ {
			if l.Append(line(0, i)) {
				accepted++
			}
		}
	})
	keep := (batches + 1) * perBatch // the full queue plus the batch filling
	if accepted != keep {
		t.Errorf("accepted %d lines while stalled, want %d", accepted, keep)
	}
	if st := l.Stats(); st.Appended != m+1 || st.Dropped != uint64(m-keep) || st.Written != 0 {
		t.Errorf("stalled stats %+v, want appended %d dropped %d written 0", st, m+1, m-keep)
	}
	close(g.release)
	st, err := l.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Appended != st.Written+st.Dropped || st.Written != uint64(keep+1) || st.Dropped != uint64(m-keep) {
		t.Fatalf("final stats %+v, want written %d dropped %d", st, keep+1, m-keep)
	}
	if st.WriteCalls != batches+2 { // line 0, the queued batches, the one that was filling
		t.Errorf("write calls %d, want %d (one per batch)", st.WriteCalls, batches+2)
	}
	got := strings.Split(strings.TrimSuffix(g.buf.String(), "\n"), "\n")
	if len(got) != keep+1 {
		t.Fatalf("writer got %d lines, want %d", len(got), keep+1)
	}
	for i, s := range got {
		if want := strings.TrimSuffix(string(line(0, i)), "\n"); s != want {
			t.Fatalf("line %d = %q, want %q (order or content)", i, s, want)
		}
	}
	modeltest.WaitFor(t, "writer goroutine gone", settledGoroutines(base))
}

// TestLogFileCloseFlushes: a partial batch younger than FlushInterval is not written until
// Close, which writes it; later Appends are dropped and counted; Close twice is harmless.
func TestLogFileCloseFlushes(t *testing.T) {
	base := runtime.NumGoroutine()
	g := newGate()
	close(g.release) // a writer that never stalls
	l, err := models.NewLogWriter(g, models.LogOptions{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		l.Append(line(1, i))
	}
	time.Sleep(10 * time.Millisecond) // give a wrong implementation the chance to write early
	if st := l.Stats(); st.Written != 0 || st.WriteCalls != 0 {
		t.Errorf("a young partial batch was written before Close: %+v", st)
	}
	st, err := l.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 5 || st.WriteCalls != 1 || g.buf.Len() != 5*32 || g.writes != 1 {
		t.Errorf("after Close: %+v, %d bytes in %d writes; want 5 lines in one write", st, g.buf.Len(), g.writes)
	}
	if l.Append(line(1, 9)) {
		t.Error("Append after Close accepted a line")
	}
	st2, err := l.Close()
	if err != nil || st2.Appended != 5 || st2 != st {
		t.Errorf("second Close: %+v, %v; want the first Close's %+v", st2, err, st)
	}
	if s := l.Stats(); s.Appended != 6 || s.Dropped != 1 {
		t.Errorf("Append after Close not counted as dropped: %+v", s)
	}
	modeltest.WaitFor(t, "writer goroutine gone", settledGoroutines(base))
}

// TestLogFileUnwritable: a file that cannot be written (fd closed under the log, opened
// read-only, a full disk): every write error is counted, every line dropped, Append keeps
// returning at once and Close reports the error.
func TestLogFileUnwritable(t *testing.T) {
	dir := logDir(t)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (models.LogFile, error)
		is   error
	}{
		{"closed_fd", func(t *testing.T) (models.LogFile, error) {
			f, err := os.Create(filepath.Join(dir, "closed.log"))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			return models.NewLogWriter(f, models.LogOptions{FlushInterval: time.Millisecond})
		}, os.ErrClosed},
		{"read_only", func(t *testing.T) (models.LogFile, error) {
			p := filepath.Join(dir, "ro.log")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return models.NewLogWriter(f, models.LogOptions{FlushInterval: time.Millisecond})
		}, nil},
		{"disk_full", func(t *testing.T) (models.LogFile, error) {
			if runtime.GOOS != "linux" {
				t.Skip("/dev/full is Linux's")
			}
			return models.OpenLogFile("/dev/full", models.LogOptions{FlushInterval: time.Millisecond})
		}, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.open(t)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "Append on an unwritable log", func() {
				for i := range 1000 {
					l.Append(line(2, i))
				}
			})
			modeltest.WaitFor(t, "a failed write", func() bool { return l.Stats().WriteErrors > 0 })
			st, err := l.Close()
			if err == nil {
				t.Fatal("Close returned no error after failed writes")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Close error %v, want %v", err, tc.is)
			}
			if st.Written != 0 || st.Dropped != st.Appended || st.Appended != 1000 || st.WriteErrors != st.WriteCalls {
				t.Errorf("stats %+v: want every line dropped and every write an error", st)
			}
		})
	}
}

// TestLogFilePipeNobodyReads: a real file descriptor whose reader does not read (a pipe):
// the writer blocks in write(2) once the pipe is full; Append keeps returning and drops. Then
// the reader drains, Close returns, and what the reader got is exactly what was counted
// written.
func TestLogFilePipeNobodyReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := models.NewLogWriter(w, models.LogOptions{BatchBytes: 4096, Batches: 2, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000 // 640 KB: far more than a pipe buffer plus the queue
	within(t, "Append into a full pipe", func() {
		for i := range n {
			l.Append(line(3, i))
		}
	})
	if st := l.Stats(); st.Dropped == 0 {
		t.Fatalf("nothing dropped with a reader that never reads: %+v", st)
	}
	got := make(chan int)
	go func() {
		n, err := countLines(r)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	st, err := l.Close()
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if read := <-got; uint64(read) != st.Written || st.Appended != n || st.Written+st.Dropped != n {
		t.Fatalf("reader got %d lines; stats %+v (appended %d)", read, st, n)
	}
}

// TestLogQueue drives the queue as a proactor would: one batch out at a time, short writes
// resubmitted, the FlushInterval honoured, a line longer than a batch dropped, the bound on
// buffers kept.
func TestLogQueue(t *testing.T) {
	allocs, wakes := 0, 0
	q, err := models.NewLogQueue(models.LogOptions{BatchBytes: 64, Batches: 1, FlushInterval: time.Second},
		func(n int) []byte { allocs++; return make([]byte, n) }, func() { wakes++ })
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if b, wait, done := q.Next(t0); b != nil || wait != 0 || done {
		t.Fatalf("empty queue: Next = %v, %v, %v", b, wait, done)
	}
	q.Append(line(4, 0)) // the writer was idle: wake
	if wakes != 1 {
		t.Errorf("wakes = %d after the first line, want 1", wakes)
	}
	if b, wait, _ := q.Next(time.Now()); b != nil || wait <= 0 || wait > time.Second {
		t.Fatalf("young partial batch: Next = %v, wait %v; want nil and a wait within FlushInterval", b, wait)
	}
	b, _, _ := q.Next(time.Now().Add(time.Second))
	if b == nil || len(b.Bytes) != 32 {
		t.Fatalf("aged batch not handed out: %v", b)
	}
	if b2, _, _ := q.Next(time.Now().Add(time.Hour)); b2 != nil {
		t.Fatal("Next handed out a second batch while one is out")
	}
	if !q.Done(b, 10, nil) || len(b.Bytes) != 22 {
		t.Fatalf("short write: want more with 22 bytes left, have %d", len(b.Bytes))
	}
	if q.Done(b, 22, nil) {
		t.Fatal("complete write asked for more")
	}
	if q.Append(make([]byte, 65)) {
		t.Error("a line longer than a batch was accepted")
	}
	// Fill: 2 lines per batch; one batch full in the queue, one filling, then drops.
	ok := 0
	for i := range 6 {
		if q.Append(line(4, i+1)) {
			ok++
		}
	}
	if ok != 4 {
		t.Errorf("accepted %d of 6 lines with Batches 1 and 2 lines a batch, want 4", ok)
	}
	b, _, _ = q.Next(time.Now())
	if b == nil || len(b.Bytes) != 64 {
		t.Fatalf("full batch not handed out first: %v", b)
	}
	if q.Done(b, 0, nil) {
		t.Fatal("a zero-byte write asked for more (would spin)")
	}
	q.Close()
	b, _, _ = q.Next(time.Now()) // the partial batch goes at once after Close
	if b == nil || len(b.Bytes) != 64 {
		t.Fatalf("after Close: the last batch not handed out: %v", b)
	}
	q.Done(b, 64, nil)
	if _, _, done := q.Next(time.Now()); !done {
		t.Fatal("closed, empty queue not done")
	}
	st := q.Stats()
	want := models.LogStats{Appended: 8, Written: 3, Dropped: 5, Bytes: 32 + 64, WriteCalls: 4, WriteErrors: 1}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if !errors.Is(q.Err(), io.ErrShortWrite) {
		t.Errorf("Err = %v, want io.ErrShortWrite", q.Err())
	}
	if allocs > 3 {
		t.Errorf("%d buffers allocated, bound is Batches+2 = 3", allocs)
	}
}

func TestLogOptions(t *testing.T) {
	if _, err := models.NewLogQueue(models.LogOptions{Batches: -1}, nil, func() {}); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("negative Batches: %v, want ErrBadConfig", err)
	}
	if _, err := models.NewLogQueue(models.LogOptions{}, nil, nil); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("nil wake: %v, want ErrBadConfig", err)
	}
	if _, err := models.OpenLogFile(filepath.Join(logDir(t), "no", "such", "dir.log"), models.LogOptions{}); err == nil {
		t.Error("OpenLogFile in a missing directory: no error")
	}
	o, err := models.LogOptions{}.WithDefaults()
	if err != nil || o.BatchBytes != models.DefaultLogBatchBytes || o.Batches != models.DefaultLogBatches || o.FlushInterval != models.DefaultLogFlushInterval {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

// fileEngine is an Engine that completes log writes itself.
type fileEngine struct {
	models.Engine
	opened string
}

func (e *fileEngine) OpenLog(path string, opt models.LogOptions) (models.LogFile, error) {
	e.opened = path
	return models.NewLogWriter(io.Discard, opt)
}

type plainEngine struct{ models.Engine }

func TestOpenLogPrefersEngine(t *testing.T) {
	dir := logDir(t)
	fe := &fileEngine{}
	l, err := models.OpenLog(fe, filepath.Join(dir, "native.log"), models.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fe.opened == "" {
		t.Error("OpenLog did not use the engine's FileWriter")
	}
	if _, err := os.Stat(filepath.Join(dir, "native.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the default writer opened the file too: %v", err)
	}
	l, err = models.OpenLog(plainEngine{}, filepath.Join(dir, "default.log"), models.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("x\n"))
	if st, err := l.Close(); err != nil || st.Written != 1 {
		t.Fatalf("default writer: %+v, %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "default.log")); err != nil || string(b) != "x\n" {
		t.Errorf("default.log = %q, %v", b, err)
	}
}
