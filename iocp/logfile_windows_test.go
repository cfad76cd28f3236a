package iocp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

func TestLogOnThePort(t *testing.T) {
	dir, err := os.MkdirTemp("", "iobench-iocp-log-*") // not t.TempDir: see scripts/wine/test.sh
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Run("OpenLog is the port's writer", func(t *testing.T) {
		eng := modeltest.Open(t, Name, models.Config{Loops: 1})
		l, err := models.OpenLog(eng, filepath.Join(dir, "a.log"), models.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.(*portLog); !ok {
			t.Fatalf("OpenLog on iocp gave %T, want its port writer", l)
		}
		for range 10 {
			l.Append([]byte("a line\n"))
		}
		st, err := l.Close()
		if err != nil || st.Written != 10 || st.WriteCalls == 0 {
			t.Fatalf("Close: %+v %v", st, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "a.log")); len(b) != 70 {
			t.Fatalf("file has %d bytes, want 70", len(b))
		}
	})
	t.Run("the engine closed before the log", func(t *testing.T) {
		eng := modeltest.Open(t, Name, models.Config{Loops: 1})
		l, err := models.OpenLog(eng, filepath.Join(dir, "b.log"), models.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			l.Append([]byte("a line\n"))
		}
		modeltest.CloseEngine(t, eng)
		st, _ := l.Close() // returns; what no loop could write is counted dropped
		if st.Written+st.Dropped != st.Appended {
			t.Fatalf("counters %+v", st)
		}
	})
}
