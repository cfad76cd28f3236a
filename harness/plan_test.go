package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/internal/cli"
)

func TestPlanLabels(t *testing.T) {
	for _, tc := range []struct {
		name    string
		names   []string
		aa      string
		run     string // label=backend, comma-separated
		skipped string
		err     string // substring of the usage error
	}{
		{"default twin", []string{"netstd"}, "", "netstd=netstd,netstd#aa=netstd", "", ""},
		{"no twin", []string{"netstd"}, AANone, "netstd=netstd", "", ""},
		{"explicit twin", []string{"netstd", "netstd#aa"}, "", "netstd=netstd,netstd#aa=netstd", "", ""},
		{"explicit twin and matching --aa", []string{"netstd", "netstd#aa"}, "netstd", "netstd=netstd,netstd#aa=netstd", "", ""},
		{"unavailable twin is skipped", []string{"netstd", unavailableBackend}, unavailableBackend, "netstd=netstd",
			unavailableBackend + "," + unavailableBackend + "#aa", ""},
		{"repeated backend", []string{"netstd", "netstd"}, "", "", "", "netstd#aa"},
		{"twin without its backend", []string{"netstd#aa"}, "", "", "", "list netstd in --backends too"},
		{"two twins", []string{"netstd", "netstd#aa", "x#aa"}, "", "", "", "A/A twins"},
		{"contradicting --aa", []string{"netstd", "netstd#aa"}, "gnet", "", "", "contradicts"},
		{"--aa not measured", []string{"netstd"}, "gnet", "", "", "not among the measured"},
		{"unknown backend", []string{"nosuch"}, "", "", "", "nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, skipped, _, err := planLabels(tc.names, tc.aa)
			if tc.err != "" {
				if cli.Code(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want a usage error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, gotSkipped []string
			for _, l := range run {
				got = append(got, l.Name+"="+l.Backend)
			}
			for _, l := range skipped {
				gotSkipped = append(gotSkipped, l.Name)
			}
			if strings.Join(got, ",") != tc.run || strings.Join(gotSkipped, ",") != tc.skipped {
				t.Fatalf("labels %v skipped %v, want %s skipped %s", got, gotSkipped, tc.run, tc.skipped)
			}
		})
	}
}

func TestParseLadder(t *testing.T) {
	if l, err := parseLadder("0.25, 0.5,0.75"); err != nil || len(l) != 3 || l[1] != 0.5 {
		t.Fatalf("parseLadder = %v, %v", l, err)
	}
	for _, bad := range []string{"", "x", "0.5,0.2", "0,0.5", "0.5,3", "NaN"} {
		if _, err := parseLadder(bad); err == nil {
			t.Errorf("parseLadder(%q) accepted", bad)
		}
	}
}

func TestRotateAndPointWindow(t *testing.T) {
	if got := rotate([]int{0, 1, 2, 3}, 5); got[0] != 1 || got[3] != 0 || len(got) != 4 {
		t.Fatalf("rotate = %v", got)
	}
	for _, tc := range []struct {
		name           string
		rate           float64
		base, max, win time.Duration
	}{
		{"enough samples in the base window", 50000, 500 * time.Millisecond, 2 * time.Second, 500 * time.Millisecond},
		{"lengthened to the tail target, whole slices", 10000, 500 * time.Millisecond, 2 * time.Second, 1200 * time.Millisecond},
		{"capped", 1000, 500 * time.Millisecond, 2 * time.Second, 2 * time.Second},
		{"no lengthening configured", 1000, 500 * time.Millisecond, 0, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pointWindow(tc.rate, tc.base, tc.max); got != tc.win {
				t.Fatalf("pointWindow(%v, %v, %v) = %v, want %v", tc.rate, tc.base, tc.max, got, tc.win)
			}
		})
	}
}
