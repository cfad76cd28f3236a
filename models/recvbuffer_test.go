package models_test

import (
	"errors"
	"testing"

	"github.com/iobench/iobench/models"
)

func newRecvBuffer(tb testing.TB, n int) *models.RecvBuffer {
	tb.Helper()
	rb, err := models.NewRecvBuffer(n)
	if err != nil {
		tb.Fatalf("NewRecvBuffer(%d): %v", n, err)
	}
	return rb
}

// fill writes p through Free/Commit, as a backend's read does.
func fill(tb testing.TB, rb *models.RecvBuffer, p string) {
	tb.Helper()
	free := rb.Free()
	if len(free) < len(p) {
		tb.Fatalf("Free() has %d bytes, need %d", len(free), len(p))
	}
	copy(free, p)
	rb.Commit(len(p))
}

func TestRecvBufferCompaction(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		fill     string
		consume  int
		wantFree int    // len(Free()) afterwards
		wantWin  string // Window() afterwards
	}{
		{"no compaction while half the buffer is free at the end", 16, "abcd", 2, 12, "cd"},
		{"compacts when the free tail runs short", 16, "0123456789ab", 10, 14, "ab"},
		{"an emptied buffer restarts at 0", 16, "0123456789abcdef", 16, 16, ""},
		{"full buffer has no free space", 16, "0123456789abcdef", 0, 0, "0123456789abcdef"},
		{"one byte consumed of a full buffer compacts", 16, "0123456789abcdef", 1, 1, "123456789abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newRecvBuffer(t, tc.size)
			fill(t, rb, tc.fill)
			rb.Consume(tc.consume)
			if got := len(rb.Free()); got != tc.wantFree {
				t.Errorf("len(Free()) = %d, want %d", got, tc.wantFree)
			}
			if got := string(rb.Window()); got != tc.wantWin {
				t.Errorf("Window() = %q, want %q (compaction must keep the unread bytes)", got, tc.wantWin)
			}
			if rb.Len() != len(tc.wantWin) {
				t.Errorf("Len() = %d, want %d", rb.Len(), len(tc.wantWin))
			}
			if full := rb.Len() == tc.size; rb.Full() != full {
				t.Errorf("Full() = %v, want %v", rb.Full(), full)
			}
		})
	}
}

func TestRecvBufferStream(t *testing.T) {
	// A stream through a small buffer in odd-sized reads and consumes comes out intact.
	rb := newRecvBuffer(t, 64)
	var in, out []byte
	for i := range 5000 {
		in = append(in, byte(i*31))
	}
	src := in
	for step := 0; len(out) < len(in); step++ {
		free := rb.Free()
		n := copy(free[:min(len(free), 1+step%23)], src)
		rb.Commit(n)
		src = src[n:]
		w := rb.Window()
		k := min(len(w), step%37)
		out = append(out, w[:k]...)
		rb.Consume(k)
		if step > 100000 {
			t.Fatal("no progress")
		}
	}
	if string(out) != string(in) {
		t.Fatal("stream corrupted by compaction")
	}
}

type recvFunc func(s models.Session, w []byte) int

func (f recvFunc) OnConnect(models.Session)                       {}
func (f recvFunc) OnRecv(s models.Session, w []byte) int          { return f(s, w) }
func (f recvFunc) OnSend(models.Session, int)                     {}
func (f recvFunc) OnDisconnect(models.Session, models.KickReason) {}

func TestRecvBufferDeliver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fill     string
		consumed int
		want     models.KickReason
		wantWin  string
		called   bool
	}{
		{"consume all", "hello", 5, models.KickNone, "", true},
		{"consume part keeps the rest", "hello", 2, models.KickNone, "llo", true},
		{"consume none waits for more", "hel", 0, models.KickNone, "hel", true},
		{"negative is a packet error", "hello", -1, models.KickPacketError, "hello", true},
		{"more than the window is a packet error", "hello", 6, models.KickPacketError, "hello", true},
		{"full buffer, nothing consumed: over full", "0123456789abcdef", 0, models.KickRecvBufferOverFull, "0123456789abcdef", true},
		{"full buffer, something consumed: fine", "0123456789abcdef", 1, models.KickNone, "123456789abcdef", true},
		{"empty window: handler not called", "", 0, models.KickNone, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newRecvBuffer(t, 16)
			fill(t, rb, tc.fill)
			called := false
			h := recvFunc(func(_ models.Session, w []byte) int {
				called = true
				if string(w) != tc.fill {
					t.Errorf("OnRecv window %q, want %q", w, tc.fill)
				}
				return tc.consumed
			})
			if got := rb.Deliver(h, nil); got != tc.want {
				t.Errorf("Deliver = %v, want %v", got, tc.want)
			}
			if called != tc.called {
				t.Errorf("OnRecv called = %v, want %v", called, tc.called)
			}
			if got := string(rb.Window()); got != tc.wantWin {
				t.Errorf("Window() = %q, want %q", got, tc.wantWin)
			}
		})
	}
}

func TestRecvBufferPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(rb *models.RecvBuffer)
	}{
		{"commit past the end", func(rb *models.RecvBuffer) { rb.Commit(17) }},
		{"negative commit", func(rb *models.RecvBuffer) { rb.Commit(-1) }},
		{"consume more than unread", func(rb *models.RecvBuffer) { rb.Commit(2); rb.Consume(3) }},
		{"negative consume", func(rb *models.RecvBuffer) { rb.Consume(-1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newRecvBuffer(t, 16)
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.do(rb)
		})
	}
}

func TestRecvBufferInitReset(t *testing.T) {
	if _, err := models.NewRecvBuffer(0); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("NewRecvBuffer(0) = %v, want ErrBadConfig", err)
	}
	var rb models.RecvBuffer
	mem := make([]byte, 32)
	rb.Init(mem)
	if rb.Cap() != 32 || rb.Len() != 0 {
		t.Fatalf("after Init Cap() = %d Len() = %d", rb.Cap(), rb.Len())
	}
	fill(t, &rb, "abc")
	if mem[0] != 'a' {
		t.Error("Init did not use the given memory (registered regions depend on it)")
	}
	rb.Reset()
	if rb.Len() != 0 || len(rb.Free()) != 32 {
		t.Errorf("after Reset Len() = %d, len(Free()) = %d", rb.Len(), len(rb.Free()))
	}
}
