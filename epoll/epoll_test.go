package epoll

import (
	"errors"
	"runtime"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

func TestTagRoundTrip(t *testing.T) {
	cases := []struct {
		name            string
		kind            tagKind
		svc, slot       int
		gen             uint32
		wantSvc, wantSl int
		wantGen         uint32
	}{
		{"zero", kindSession, 0, 0, 0, 0, 0, 0},
		{"max", kindSession, maxServices - 1, maxSlots - 1, genMask, maxServices - 1, maxSlots - 1, genMask},
		{"gen wraps to 24 bits", kindSession, 7, 42, 1<<24 | 5, 7, 42, 5},
		{"listener", kindListener, 3, 0, 0, 3, 0, 0},
		{"wake", kindWake, 0, 0, 0, 0, 0, 0},
		{"high bits set", kindSession, 4095, 1 << 23, 1 << 23, 4095, 1 << 23, 1 << 23},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := makeTag(c.kind, c.svc, c.slot, c.gen)
			lo, hi := tg.split()
			got := joinTag(lo, hi)
			if got != tg {
				t.Fatalf("joinTag(split(%#x)) = %#x", uint64(tg), uint64(got))
			}
			if got.kind() != c.kind || got.svc() != c.wantSvc || got.slot() != c.wantSl || got.gen() != c.wantGen {
				t.Fatalf("decoded kind=%d svc=%d slot=%d gen=%d, want %d %d %d %d",
					got.kind(), got.svc(), got.slot(), got.gen(), c.kind, c.wantSvc, c.wantSl, c.wantGen)
			}
		})
	}
}

func TestUnsupportedElsewhere(t *testing.T) {
	err := available()
	if runtime.GOOS == "linux" {
		if err != nil {
			t.Fatalf("available() on linux = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, models.ErrUnsupported) {
		t.Fatalf("available() on %s = %v, want ErrUnsupported", runtime.GOOS, err)
	}
	if _, err := New(models.Config{}); !errors.Is(err, models.ErrUnsupported) {
		t.Fatalf("New on %s = %v, want ErrUnsupported", runtime.GOOS, err)
	}
}
