//go:build linux || darwin

package netpoll

import (
	"io"
	"os"
	"testing"
)

// TestNetpollLogQuiet: netpoll's per-connection and per-accept lines are counted and kept off
// stderr; any other netpoll line still reaches stderr.
func TestNetpollLogQuiet(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = saved }()
	before := quietedLogLines.Load()
	for _, line := range []string{
		"2026/01/01 00:00:00 NETPOLL: readall(fd=12)=0 before close: connection reset by peer\n",
		"2026/01/01 00:00:00 NETPOLL: accept conn failed: too many open files\n",
		"2026/01/01 00:00:00 NETPOLL: re-accept conn failed, err=[too many open files] and next retrytime=50ms\n",
		"2026/01/01 00:00:00 NETPOLL: closeCallback[true,true] detach operator failed: no such file or directory\n",
	} {
		if n, err := (netpollLog{}).Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	other := "2026/01/01 00:00:00 NETPOLL: operator has critical problem! event=1\n" +
		"2026/01/01 00:00:00 NETPOLL: closeCallback[true,true] detach operator failed: bad file descriptor\n"
	(netpollLog{}).Write([]byte(other))
	w.Close()
	got, _ := io.ReadAll(r)
	if n := quietedLogLines.Load() - before; n != 4 {
		t.Errorf("%d lines counted as quieted, want 4", n)
	}
	if string(got) != other {
		t.Errorf("stderr got %q, want only the unexpected line %q", got, other)
	}
}
