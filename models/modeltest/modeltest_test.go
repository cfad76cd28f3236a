package modeltest

import (
	"strings"
	"testing"

	"github.com/iobench/iobench/models"
)

// The suite's own checkers must catch what they claim to catch.

func TestMessageCodec(t *testing.T) {
	for _, size := range []int{1, 5, 11, 12, 64, 4 << 10, 1 << 20} {
		msg := make([]byte, size)
		fillMessage(msg, 7, 42)
		if err := checkMessage(msg, 7, 42); err != nil {
			t.Fatalf("size %d: a good message fails: %v", size, err)
		}
		for _, tc := range []struct {
			name      string
			conn, seq uint32
			mutate    func(p []byte)
		}{
			{"next message (lost one)", 7, 43, nil},
			{"previous message (duplicate)", 7, 41, nil},
			{"other connection", 8, 42, nil},
			{"first byte flipped", 7, 42, func(p []byte) { p[0] ^= 1 }},
			{"last byte flipped", 7, 42, func(p []byte) { p[len(p)-1] ^= 0x80 }},
		} {
			t.Run(sizeName(size)+"/"+tc.name, func(t *testing.T) {
				p := append([]byte(nil), msg...)
				if tc.mutate != nil {
					tc.mutate(p)
				}
				if err := checkMessage(p, tc.conn, tc.seq); err == nil {
					t.Error("not detected")
				}
			})
		}
	}
}

func TestEchoShapesWithinBudget(t *testing.T) {
	shapes := echoShapes()
	sizes := map[int]bool{}
	for _, sh := range shapes {
		sizes[sh.size] = true
		if total := sh.size * sh.conns * sh.msgs; total > echoBudget && sh.msgs > 1 {
			t.Errorf("%s moves %d bytes, budget %d", sh.name(), total, echoBudget)
		}
		if sh.conns*sh.msgs > echoMaxMsgs {
			t.Errorf("%s has %d messages, max %d", sh.name(), sh.conns*sh.msgs, echoMaxMsgs)
		}
		if sh.msgs < 1 || sh.conns < 1 {
			t.Errorf("%s: %d conns x %d messages", sh.name(), sh.conns, sh.msgs)
		}
	}
	for _, want := range []int{1, 64, 4 << 10, 64 << 10, 1 << 20} {
		if !sizes[want] {
			t.Errorf("no echo case of %d B", want)
		}
	}
	if shapes[2].conns != 1000 {
		t.Errorf("1 B messages run on %d connections, want 1000", shapes[2].conns)
	}
}

type fakeSession struct {
	models.Session
	id uint64
}

func (s fakeSession) ID() uint64    { return s.id }
func (s fakeSession) UserData() any { return nil }

func TestTrackerViolations(t *testing.T) {
	s1, s2 := fakeSession{id: 1}, fakeSession{id: 2}
	for _, tc := range []struct {
		name string
		run  func(k *Tracker)
		want string // substring of the violation, "" for none
	}{
		{"clean life cycle", func(k *Tracker) {
			k.OnConnect(s1)
			k.OnRecv(s1, []byte("x"))
			k.OnSend(s1, 1)
			k.OnDisconnect(s1, models.KickRecv0)
		}, ""},
		{"recv before connect", func(k *Tracker) { k.OnRecv(s2, []byte("x")) }, "before its OnConnect"},
		{"send after disconnect", func(k *Tracker) {
			k.OnConnect(s1)
			k.OnDisconnect(s1, models.KickRecv0)
			k.OnSend(s1, 1)
		}, "after its OnDisconnect"},
		{"disconnect twice", func(k *Tracker) {
			k.OnConnect(s1)
			k.OnDisconnect(s1, models.KickRecv0)
			k.OnDisconnect(s1, models.KickShutdown)
		}, "OnDisconnect twice"},
		{"disconnect without connect", func(k *Tracker) { k.OnDisconnect(s2, models.KickRecv0) }, "without OnConnect"},
		{"connect twice with one ID", func(k *Tracker) { k.OnConnect(s1); k.OnConnect(s1) }, "OnConnect twice"},
		{"no reason", func(k *Tracker) { k.OnConnect(s1); k.OnDisconnect(s1, models.KickNone) }, "KickNone"},
		{"empty OnSend", func(k *Tracker) { k.OnConnect(s1); k.OnSend(s1, 0) }, "OnSend(0)"},
		{"concurrent OnRecv", func(k *Tracker) {
			k.OnConnect(s1)
			k.inner = models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
				if len(w) == 2 {
					k.OnRecv(s, w[:1]) // re-entered while the first call runs
				}
				return len(w)
			}}
			k.OnRecv(s1, []byte("ab"))
		}, "concurrent OnRecv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Tracker{inner: models.HandlerFuncs{}, sess: map[uint64]*tracked{}, reasons: map[models.KickReason]int{}}
			tc.run(k)
			got := strings.Join(k.violations, "; ")
			if tc.want == "" && got != "" {
				t.Errorf("violations %q, want none", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("violations %q, want one containing %q", got, tc.want)
			}
		})
	}
}
