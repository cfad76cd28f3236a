//go:build linux || darwin

package netpoll

import (
	"errors"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// TestSideWriterPaths: modeltest's backpressure and half-close drain take the adapter's side
// writer here: netpoll's only wait for writability is its own Flush, so a blocked writev
// hands over, and after the hang-up the side writer drains what is queued.
func TestSideWriterPaths(t *testing.T) {
	eng := modeltest.Open(t, Name, models.Config{SendQueueLimit: modeltest.StreamQueueLimit})
	svc := modeltest.StartEcho(t, eng).(*service)
	modeltest.Backpressure(t, svc)
	modeltest.HalfCloseDrain(t, svc)
	if w, d := svc.sideWriters.Load(), svc.drains.Load(); w < 1 || d != 1 {
		t.Errorf("side writers started = %d, drains = %d; want at least 1 and 1", w, d)
	}
}

// TestGlobalLoops: netpoll's pollers are process-global, so an engine asking for another
// poller count while one is open is refused; once it closes, the count can change.
func TestGlobalLoops(t *testing.T) {
	first, err := models.Open(Name, models.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Open(Name, models.Config{Loops: 3}); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("Open with Loops 3 while Loops 2 is open = %v, want ErrBadConfig", err)
	}
	same, err := models.Open(Name, models.Config{Loops: 2})
	if err != nil {
		t.Fatalf("Open with the same Loops: %v", err)
	}
	same.Close()
	first.Close()
	other, err := models.Open(Name, models.Config{Loops: 3})
	if err != nil {
		t.Fatalf("Open with Loops 3 after the others closed: %v", err)
	}
	svc := modeltest.StartEcho(t, other)
	c := modeltest.Dial(t, svc.Addr())
	modeltest.RoundTrip(t, c, []byte("three pollers"))
	svc.Close()
	other.Close()
	back, err := models.Open(Name, models.Config{Loops: 2}) // the count the suite uses
	if err != nil {
		t.Fatal(err)
	}
	back.Close()
}

// BenchmarkEcho: its allocs/op is what one echoed message costs the process (server and client).
func BenchmarkEcho(b *testing.B) { modeltest.BenchEcho(b, Name) }
