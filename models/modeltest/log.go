package modeltest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// RunLog is the conformance suite of a backend's log file (models.OpenLog on its engine: the
// engine's own FileWriter where it has one, the default writer goroutine otherwise), as t.Run
// subtests:
//
//   - every_line: 4 goroutines append 5000 numbered lines each; after Close every line is
//     written or counted dropped (written + dropped = appended), the file holds exactly the
//     written lines, whole, and each goroutine's lines in the order it appended them.
//   - flush_interval: one line appears in the file without Close, after FlushInterval.
//   - close_flushes: 100 lines and Close at once: all of them are in the file.
//   - slow_disk (Unix): the file is a named pipe nobody reads and the queue tiny: Append
//     never blocks (4000 appends finish while the pipe is full), lines are dropped and counted;
//     once the pipe is read, Close returns and the pipe carried exactly the written lines.
//   - close_after_errors (Unix): the pipe's reader is gone (EPIPE): the batch's lines are
//     dropped and counted as a write error, Close returns the error, the counts add up, and
//     a second Close returns the same.
//   - after_close: Append after Close returns false and counts the line dropped.
//   - bad_path: a path in a missing directory is an error.
func RunLog(t *testing.T, backend string) {
	cases := []struct {
		name string
		fn   func(t *testing.T, eng models.Engine)
	}{
		{"every_line", logEveryLine},
		{"flush_interval", logFlushInterval},
		{"close_flushes", logCloseFlushes},
		{"slow_disk", logSlowDisk},
		{"close_after_errors", logCloseAfterErrors},
		{"after_close", logAfterClose},
		{"bad_path", logBadPath},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng := Open(t, backend, models.Config{})
			c.fn(t, eng)
		})
	}
}

// logDir is a fresh folder removed at cleanup. Not t.TempDir: under Wine its removal fails
// (see scripts/wine/test.sh) and would fail the case; a folder left behind there is harmless.
func logDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "iobench-log-*")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// openLog opens path on eng and closes it at cleanup if the case did not.
func openLog(tb testing.TB, eng models.Engine, path string, opt models.LogOptions) models.LogFile {
	tb.Helper()
	l, err := models.OpenLog(eng, path, opt)
	if err != nil {
		tb.Fatalf("OpenLog: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// closeLog closes l within the hang bound and returns its counters and error.
func closeLog(tb testing.TB, l models.LogFile) (models.LogStats, error) {
	tb.Helper()
	type res struct {
		st  models.LogStats
		err error
	}
	done := make(chan res, 1)
	go func() {
		st, err := l.Close()
		done <- res{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-time.After(closeTimeout):
		tb.Fatalf("LogFile.Close did not return within %v; goroutines:\n%s", closeTimeout, stacks())
	}
	return models.LogStats{}, nil
}

func checkCounts(tb testing.TB, st models.LogStats) {
	tb.Helper()
	if st.Written+st.Dropped != st.Appended {
		tb.Fatalf("written %d + dropped %d != appended %d", st.Written, st.Dropped, st.Appended)
	}
}

func logLine(w, i int) []byte {
	return fmt.Appendf(nil, "w=%d i=%d %s\n", w, i, strings.Repeat("x", 40))
}

// checkLines reads the lines in r: each must be a whole line of logLine, each writer's in
// increasing order; it returns how many there were.
func checkLines(tb testing.TB, r io.Reader) uint64 {
	tb.Helper()
	n, err := scanLines(r)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func scanLines(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	last := map[int]int{}
	var n uint64
	for sc.Scan() {
		n++
		var w, i int
		if _, err := fmt.Sscanf(sc.Text(), "w=%d i=%d ", &w, &i); err != nil || !bytes.Equal(append(sc.Bytes(), '\n'), logLine(w, i)) {
			return n, fmt.Errorf("line %d is not a whole log line: %q", n, sc.Text())
		}
		if p, ok := last[w]; ok && i <= p {
			return n, fmt.Errorf("writer %d: line %d after line %d (order lost)", w, i, p)
		}
		last[w] = i
	}
	return n, sc.Err()
}

func logEveryLine(t *testing.T, eng models.Engine) {
	path := filepath.Join(logDir(t), "every.log")
	l := openLog(t, eng, path, models.LogOptions{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				l.Append(logLine(w, i))
			}
		}()
	}
	wg.Wait()
	st, err := closeLog(t, l)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, st)
	if st.Appended != 20000 || st.Written == 0 {
		t.Fatalf("counters %+v", st)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := checkLines(t, f); n != st.Written {
		t.Fatalf("%d lines in the file, the log says %d written (%+v)", n, st.Written, st)
	}
}

func logFlushInterval(t *testing.T, eng models.Engine) {
	path := filepath.Join(logDir(t), "flush.log")
	l := openLog(t, eng, path, models.LogOptions{FlushInterval: 5 * time.Millisecond})
	if !l.Append(logLine(0, 0)) {
		t.Fatal("Append refused a line on an empty log")
	}
	WaitFor(t, "the line in the file before Close", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Equal(b, logLine(0, 0))
	})
	// The file can show the line before the write's completion is counted (a completion
	// port's packet is dispatched after the data is in the file): wait for the count too.
	WaitFor(t, "the write counted", func() bool { return l.Stats().Written >= 1 })
	if st := l.Stats(); st.Written != 1 || st.WriteCalls != 1 {
		t.Fatalf("counters %+v", st)
	}
}

func logCloseFlushes(t *testing.T, eng models.Engine) {
	path := filepath.Join(logDir(t), "close.log")
	l := openLog(t, eng, path, models.LogOptions{FlushInterval: time.Hour})
	for i := range 100 {
		l.Append(logLine(0, i))
	}
	st, err := closeLog(t, l)
	if err != nil || st.Written != 100 || st.Dropped != 0 {
		t.Fatalf("Close: %+v %v", st, err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	if n := checkLines(t, f); n != 100 {
		t.Fatalf("%d lines in the file, want 100", n)
	}
}

// fifo makes a named pipe and opens its read end (non-blocking, so the open does not wait for
// a writer); it skips where there are none.
func fifo(t *testing.T) (path string, r *os.File) {
	path = filepath.Join(logDir(t), "pipe.log")
	if err := makeFIFO(path); err != nil {
		t.Skipf("no named pipe here: %v", err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return path, r
}

func logSlowDisk(t *testing.T, eng models.Engine) {
	path, r := fifo(t)
	l := openLog(t, eng, path, models.LogOptions{BatchBytes: 4096, Batches: 2, FlushInterval: time.Millisecond})
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := range 4000 { // ~240 KiB: far over the pipe (64 KiB) and the queue (16 KiB)
			l.Append(logLine(0, i))
		}
	}()
	select {
	case <-appended:
	case <-time.After(waitTimeout):
		t.Fatalf("Append blocked on a full pipe; goroutines:\n%s", stacks())
	}
	if st := l.Stats(); st.Dropped == 0 || st.Appended != 4000 {
		t.Fatalf("a disk that cannot keep up dropped nothing: %+v", st)
	}
	type scanned struct {
		n   uint64
		err error
	}
	read := make(chan scanned, 1)
	go func() { n, err := scanLines(r); read <- scanned{n, err} }() // until the log closes its end
	st, err := closeLog(t, l)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, st)
	select {
	case got := <-read:
		if got.err != nil || got.n != st.Written {
			t.Fatalf("the pipe carried %d lines (%v), the log says %d written (%+v)", got.n, got.err, st.Written, st)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the pipe did not end after Close")
	}
}

func logCloseAfterErrors(t *testing.T, eng models.Engine) {
	path, r := fifo(t)
	l := openLog(t, eng, path, models.LogOptions{FlushInterval: time.Millisecond})
	r.Close() // nobody reads: writes fail with EPIPE
	for i := range 50 {
		l.Append(logLine(0, i))
	}
	WaitFor(t, "a failed write", func() bool { return l.Stats().WriteErrors > 0 })
	st, err := closeLog(t, l)
	if err == nil {
		t.Fatalf("Close after a failed write returned no error (%+v)", st)
	}
	checkCounts(t, st)
	if st.Dropped == 0 || st.Written != 0 {
		t.Fatalf("counters %+v", st)
	}
	st2, err2 := l.Close()
	if st2 != st || err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second Close: %+v %v, first %+v %v", st2, err2, st, err)
	}
}

func logAfterClose(t *testing.T, eng models.Engine) {
	l := openLog(t, eng, filepath.Join(logDir(t), "after.log"), models.LogOptions{})
	l.Append(logLine(0, 0))
	if _, err := closeLog(t, l); err != nil {
		t.Fatal(err)
	}
	if l.Append(logLine(0, 1)) {
		t.Fatal("Append after Close accepted a line")
	}
	if st := l.Stats(); st.Appended != 2 || st.Written != 1 || st.Dropped != 1 {
		t.Fatalf("counters %+v", st)
	}
}

func logBadPath(t *testing.T, eng models.Engine) {
	_, err := models.OpenLog(eng, filepath.Join(logDir(t), "missing", strconv.Itoa(1), "x.log"), models.LogOptions{})
	if err == nil {
		t.Fatal("OpenLog in a missing directory returned no error")
	}
}
