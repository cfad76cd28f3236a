package netns

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

func TestOwner(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"iob-123-s", 123}, {"iob-4194304-l12", 4194304}, {"iob77br", 77}, {"iob9l3", 9}, {"iob12ta0", 12},
		{"iob-", 0}, {"iobx1", 0}, {"eth0", 0}, {"iob-0-s", 0}, {"bio-12-s", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := owner(tc.name); got != tc.want {
				t.Fatalf("owner(%q) = %d, want %d", tc.name, got, tc.want)
			}
		})
	}
}

// deadPid is a pid that no process has now: a child that has been reaped.
func deadPid(tb testing.TB) int {
	tb.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		tb.Fatal(err)
	}
	return cmd.Process.Pid
}

// What a dead process left (a namespace, a bridge) is removed at the next start; what a live
// process owns is not touched.
func TestCleanStale(t *testing.T) {
	if err := Check(); err != nil {
		t.Skip(err)
	}
	dead := strconv.Itoa(deadPid(t))
	ns, br := "iob-"+dead+"-s", "iob"+dead+"br"
	if err := ip("netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("netns", "del", ns) })
	if err := ip("link", "add", br, "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("link", "del", br) })
	live := "iob-" + strconv.Itoa(os.Getpid()) + "-x" // ours: alive
	if err := ip("netns", "add", live); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("netns", "del", live) })
	var log bytes.Buffer
	if err := cleanStale(&log); err != nil {
		t.Fatal(err)
	}
	left, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(left, ns) || slices.Contains(left, br) {
		t.Fatalf("stale %s / %s not removed: %v", ns, br, left)
	}
	if !slices.Contains(left, live) {
		t.Fatalf("%s of a live process removed", live)
	}
	if !bytes.Contains(log.Bytes(), []byte("removing "+ns)) {
		t.Fatalf("log %q", log.String())
	}
}
