package rio

import (
	"errors"
	"runtime"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// TestConformance runs the contract suite; it skips with Available's reason where RIO is
// missing (every non-Windows platform, Wine), and runs end to end on a Windows runner.
func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

// TestRegistered checks the backend is registered under its folder name and, off Windows,
// refuses with an error matching models.ErrUnsupported (never a nil stub).
func TestRegistered(t *testing.T) {
	b, err := models.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "rio" || b.Summary == "" {
		t.Fatalf("registration %+v", b)
	}
	if runtime.GOOS == "windows" {
		t.Skip("availability on Windows is checked by TestProbe")
	}
	for _, c := range []struct {
		name string
		err  func() error
	}{
		{"Available", b.Available},
		{"New", func() error {
			e, err := b.New(models.Config{})
			if e != nil {
				t.Errorf("New returned an engine off Windows")
			}
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if !errors.Is(err, models.ErrUnsupported) {
				t.Fatalf("%s = %v, want models.ErrUnsupported", c.name, err)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
}
