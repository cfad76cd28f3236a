package models_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iobench/iobench/models"
)

func TestSessionCore(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	var c models.SessionCore
	c.InitCore()
	if c.Refs() != -1 {
		t.Fatalf("fresh core Refs() = %d, want -1 (unused)", c.Refs())
	}
	c.Open(local, remote)
	first := c.ID()
	if first == 0 || c.Refs() != 1 || c.LocalAddr() != local || c.RemoteAddr() != remote || c.Kicked() {
		t.Fatalf("after Open: ID %d Refs %d Local %v Remote %v Kicked %v", first, c.Refs(), c.LocalAddr(), c.RemoteAddr(), c.Kicked())
	}
	c.SetUserData("room 7")
	if c.UserData() != "room 7" {
		t.Errorf("UserData() = %v", c.UserData())
	}
	if c.AddRef() != 2 || c.ReleaseRef() != 1 {
		t.Error("AddRef/ReleaseRef counts wrong")
	}
	for i, tc := range []struct {
		r      models.KickReason
		won    bool
		reason models.KickReason
	}{
		{models.KickDisconnect, true, models.KickDisconnect},
		{models.KickSendError, false, models.KickDisconnect}, // first reason sticks
	} {
		if got := c.MarkKicked(tc.r); got != tc.won || c.Reason() != tc.reason {
			t.Errorf("step %d: MarkKicked(%v) = %v, Reason %v; want %v, %v", i, tc.r, got, c.Reason(), tc.won, tc.reason)
		}
	}
	c.ReleaseRef()
	c.Retire()
	if c.Refs() != -1 {
		t.Errorf("Retire: Refs() = %d", c.Refs())
	}
	// Reuse: a new ID, no reason, no user data.
	c.Open(local, remote)
	if c.ID() == first || c.ID() == 0 || c.Kicked() || c.UserData() != nil {
		t.Errorf("reused core: ID %d (was %d) Kicked %v UserData %v", c.ID(), first, c.Kicked(), c.UserData())
	}
	if !c.MarkKicked(models.KickNone) || c.Reason() != models.KickUnknown {
		t.Errorf("MarkKicked(KickNone) must record KickUnknown, got %v", c.Reason())
	}
}

func TestSessionCoreKickRace(t *testing.T) {
	var c models.SessionCore
	c.InitCore()
	c.Open(nil, nil)
	var winners atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.MarkKicked(models.KickReason(1 + i%12)) {
				winners.Add(1)
			}
		}()
	}
	wg.Wait()
	if winners.Load() != 1 {
		t.Errorf("%d kicks won, want exactly 1 (exactly one close)", winners.Load())
	}
}

func TestSessionIDsUnique(t *testing.T) {
	seen := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				id := models.NextSessionID()
				mu.Lock()
				if id == 0 || seen[id] {
					t.Errorf("duplicate or zero ID %d", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestCounters(t *testing.T) {
	var c models.Counters
	c.Accepted()
	c.Accepted()
	c.Connected()
	c.ConnectFailed()
	c.Refused()
	c.AcceptError()
	c.AcceptError()
	c.Disconnected(models.KickRecv0)
	c.Disconnected(models.KickRecv0)
	c.Disconnected(models.NumKickReasons + 5) // app-defined reason: counted as a disconnect only
	c.Sent()
	c.Sent()
	c.Sent()
	c.Wrote(100)
	c.Read(40)
	c.Read(60)
	got := c.Snapshot(3)
	want := models.ServiceStats{Accepted: 2, Connected: 1, ConnectFailed: 1, Refused: 1, AcceptErrors: 2,
		Disconnects: 3, Live: 3, Sends: 3, Writes: 1, Reads: 2, BytesSent: 100, BytesRecv: 100}
	want.Kicks[models.KickPoolExhausted] = 1
	want.Kicks[models.KickRecv0] = 2
	if got != want {
		t.Errorf("Snapshot = %+v\nwant       %+v", got, want)
	}
}

// kickRecorder is a Session whose Kick records the reason on its core.
type kickRecorder struct {
	models.SessionCore
	kicks []models.KickReason
}

func (k *kickRecorder) Send([]byte) error { return nil }
func (k *kickRecorder) Kick(r models.KickReason) {
	k.kicks = append(k.kicks, r)
	k.MarkKicked(r)
}

func TestEnqueue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kicked    bool
		queued    int // bytes pushed before
		size      int
		wantErr   error
		wantStart bool
		wantKick  []models.KickReason
		wantSends uint64
	}{
		{name: "first send starts a write", size: 10, wantStart: true, wantSends: 1},
		{name: "send behind a write in flight", queued: 10, size: 10, wantStart: false, wantSends: 1},
		{name: "over the bound kicks", queued: 60, size: 10, wantErr: models.ErrSendQueueFull, wantKick: []models.KickReason{models.KickSendQueueFull}},
		{name: "after a kick", kicked: true, size: 10, wantErr: models.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &kickRecorder{}
			s.Open(nil, nil)
			q, err := models.NewSendQueue(64)
			if err != nil {
				t.Fatal(err)
			}
			if tc.queued > 0 {
				q.Push(make([]byte, tc.queued))
			}
			if tc.kicked {
				s.MarkKicked(models.KickDisconnect)
			}
			var c models.Counters
			start, err := s.Enqueue(s, q, &c, make([]byte, tc.size))
			if err != tc.wantErr || start != tc.wantStart {
				t.Fatalf("start %v err %v; want %v %v", start, err, tc.wantStart, tc.wantErr)
			}
			if len(s.kicks) != len(tc.wantKick) || (len(s.kicks) > 0 && s.kicks[0] != tc.wantKick[0]) {
				t.Fatalf("kicks %v, want %v", s.kicks, tc.wantKick)
			}
			if got := c.Snapshot(0).Sends; got != tc.wantSends {
				t.Fatalf("Sends %d, want %d", got, tc.wantSends)
			}
			if want := tc.queued + map[bool]int{true: tc.size}[tc.wantErr == nil]; q.Len() != want {
				t.Fatalf("queued %d bytes, want %d", q.Len(), want)
			}
		})
	}
}
