package gnet

import (
	"runtime"
	"strings"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

// TestSideWriterPaths: modeltest's backpressure and half-close drain take the adapter's side
// writer here (gnet has no writable callback): the loop's writev blocks and hands over, and
// the EOF arrives with the echo queued. On Windows gnet's writes block on the loop instead.
func TestSideWriterPaths(t *testing.T) {
	eng := modeltest.Open(t, Name, models.Config{SendQueueLimit: modeltest.StreamQueueLimit})
	svc := modeltest.StartEcho(t, eng).(*service)
	modeltest.Backpressure(t, svc)
	if n := svc.sideWriters.Load(); runtime.GOOS != "windows" && n != 1 {
		t.Errorf("side writers started = %d, want 1 (the writer never parked?)", n)
	}
	modeltest.HalfCloseDrain(t, svc)
	if n := svc.drains.Load(); n != 1 {
		t.Errorf("half-close drains = %d, want 1", n)
	}
}

// TestNote: the Windows build must say it is a development mode; elsewhere the note names the
// adapter's extra costs.
func TestNote(t *testing.T) {
	b, err := models.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	want := "partial frame"
	if runtime.GOOS == "windows" {
		want = "development mode"
	}
	if b.Note != platformNote || !strings.Contains(b.Note, want) {
		t.Errorf("Note %q, want %q containing %q", b.Note, platformNote, want)
	}
	if b.Available() != nil {
		t.Errorf("Available = %v", b.Available())
	}
}

// BenchmarkEcho: its allocs/op is what one echoed message costs the process (server and client).
func BenchmarkEcho(b *testing.B) { modeltest.BenchEcho(b, Name) }
