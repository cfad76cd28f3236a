package netpoll

import (
	"errors"
	"runtime"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

// TestAvailability: netpoll registers everywhere, runs on linux and darwin, and elsewhere says
// why not with an error matching ErrUnsupported (from Available and New alike).
func TestAvailability(t *testing.T) {
	b, err := models.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	supported := runtime.GOOS == "linux" || runtime.GOOS == "darwin"
	err = b.Available()
	if supported && err != nil {
		t.Fatalf("Available on %s = %v, want nil", runtime.GOOS, err)
	}
	if !supported {
		if !errors.Is(err, models.ErrUnsupported) {
			t.Fatalf("Available on %s = %v, want ErrUnsupported", runtime.GOOS, err)
		}
		if eng, err := b.New(models.Config{}); eng != nil || !errors.Is(err, models.ErrUnsupported) {
			t.Fatalf("New on %s = %v, %v, want nil and ErrUnsupported", runtime.GOOS, eng, err)
		}
	}
}
