package uring

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// The engine's own log writer: IORING_OP_WRITE on the ring.
func TestLogConformance(t *testing.T) { modeltest.RunLog(t, Name) }

func TestLogOnTheRing(t *testing.T) {
	t.Run("OpenLog is the ring's writer", func(t *testing.T) {
		eng := modeltest.Open(t, Name, models.Config{Loops: 1})
		l, err := models.OpenLog(eng, filepath.Join(t.TempDir(), "x.log"), models.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, ok := l.(*ringLog); !ok {
			t.Fatalf("OpenLog on uring gave %T, want its ring writer", l)
		}
	})
	t.Run("the engine closed before the log", func(t *testing.T) {
		eng := modeltest.Open(t, Name, models.Config{Loops: 1})
		path := filepath.Join(t.TempDir(), "x.log")
		l, err := models.OpenLog(eng, path, models.LogOptions{FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			l.Append([]byte("a line\n"))
		}
		modeltest.CloseEngine(t, eng)
		st, err := l.Close() // the loop is gone: written out on the caller's goroutine
		if err != nil || st.Written != 100 {
			t.Fatalf("Close after the engine's: %+v %v", st, err)
		}
		if b, _ := os.ReadFile(path); len(b) != 700 {
			t.Fatalf("file has %d bytes, want 700", len(b))
		}
	})
}
