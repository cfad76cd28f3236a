package uring_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/uring"
)

// TestConformance runs the shared contract suite in both receive modes (see the package
// doc); it skips with the reason where the backend is unsupported (other systems, old
// kernels, io_uring disabled).
func TestConformance(t *testing.T) {
	for _, mode := range []string{"multishot", "direct"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("IOBENCH_URING_RECV", mode)
			modeltest.Run(t, uring.Name)
		})
	}
}

// TestRegistered checks the backend registers everywhere and, off Linux, refuses with
// models.ErrUnsupported from both Available and New instead of being a nil stub.
func TestRegistered(t *testing.T) {
	b, err := models.Lookup(uring.Name)
	if err != nil {
		t.Fatal(err)
	}
	avail := b.Available()
	if runtime.GOOS != "linux" && !errors.Is(avail, models.ErrUnsupported) {
		t.Fatalf("Available on %s = %v, want ErrUnsupported", runtime.GOOS, avail)
	}
	if avail != nil && !errors.Is(avail, models.ErrUnsupported) {
		t.Fatalf("Available = %v, want nil or ErrUnsupported", avail)
	}
	eng, err := b.New(models.Config{Loops: 1})
	if avail != nil {
		if eng != nil || !errors.Is(err, models.ErrUnsupported) {
			t.Fatalf("New where unavailable = %v, %v; want nil, ErrUnsupported", eng, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}
