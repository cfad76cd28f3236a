package models

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeSession is a backend session in miniature: SessionCore plus a Kick that records.
type fakeSession struct {
	SessionCore
	q SendQueue
}

func (f *fakeSession) Send(p []byte) error {
	_, err := f.Enqueue(f, &f.q, &Counters{}, p)
	return err
}

func (f *fakeSession) Kick(r KickReason) {
	if f.MarkKicked(r) {
		f.q.Close()
	}
}

func newFake(t *testing.T) *fakeSession {
	t.Helper()
	f := &fakeSession{}
	f.InitCore()
	if err := f.q.Reset(1 << 20); err != nil {
		t.Fatal(err)
	}
	f.Open(&net.TCPAddr{}, &net.TCPAddr{})
	return f
}

func TestInitServiceRefusesNilHandler(t *testing.T) {
	var sc ServiceCore
	if err := sc.InitService(ServiceOptions{PoolSize: 1}, nil); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("InitService(nil handler) = %v, want ErrBadConfig", err)
	}
	if err := sc.InitService(ServiceOptions{PoolSize: 0}, HandlerFuncs{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("InitService(PoolSize 0) = %v, want ErrBadConfig", err)
	}
}

// TestEndSessionOrder: count before OnDisconnect, queue released and core retired after it,
// slot back in the pool, redial last and only for an open auto-reconnect service.
func TestEndSessionOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		typ        ServiceType
		closing    bool
		kick       KickReason
		wantReason KickReason
		wantRedial bool
	}{
		{"server", ServiceServer, false, KickRecv0, KickRecv0, false},
		{"no_kick_is_unknown", ServiceServer, false, KickNone, KickUnknown, false},
		{"auto_reconnect", ServiceClientAutoReconnect, false, KickRecvError, KickRecvError, true},
		{"auto_reconnect_closing", ServiceClientAutoReconnect, true, KickShutdown, KickShutdown, false},
		{"client", ServiceClient, false, KickDisconnect, KickDisconnect, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sc ServiceCore
			var order []string
			f := newFake(t)
			h := HandlerFuncs{Disconnect: func(s Session, r KickReason) {
				st := sc.Stats()
				if st.Disconnects != 1 || st.Kicks[r] != 1 {
					t.Errorf("in OnDisconnect: Disconnects=%d Kicks[%v]=%d, want 1 and 1", st.Disconnects, r, st.Kicks[r])
				}
				if r != tc.wantReason {
					t.Errorf("reason %v, want %v", r, tc.wantReason)
				}
				if f.Refs() != 1 || st.Live != 1 {
					t.Errorf("in OnDisconnect: refs %d live %d, want 1 and 1 (retired or released too early)", f.Refs(), st.Live)
				}
				order = append(order, "disconnect")
			}}
			if err := sc.InitService(ServiceOptions{Type: tc.typ, PoolSize: 1}, h); err != nil {
				t.Fatal(err)
			}
			sc.SetRedial(func() {
				if sc.Pool().Live() != 0 {
					t.Error("redial before the slot went back to the pool")
				}
				order = append(order, "redial")
			})
			slot, _ := sc.Pool().Acquire()
			f.Send([]byte("queued"))
			if tc.kick != KickNone {
				f.Kick(tc.kick)
			}
			if tc.closing && !sc.BeginClose() {
				t.Fatal("BeginClose: not the first")
			}
			got := sc.EndSession(f, &f.SessionCore, &f.q, slot)
			if got != tc.wantRedial {
				t.Errorf("EndSession redialed = %v, want %v", got, tc.wantRedial)
			}
			want := "disconnect"
			if tc.wantRedial {
				want += ",redial"
			}
			if s := strings.Join(order, ","); s != want {
				t.Errorf("order %q, want %q", s, want)
			}
			if f.Refs() != -1 || sc.Pool().Live() != 0 || f.q.Len() != 0 {
				t.Errorf("after EndSession: refs %d, live %d, queued %d; want -1, 0, 0", f.Refs(), sc.Pool().Live(), f.q.Len())
			}
		})
	}
}

func TestKickOpen(t *testing.T) {
	var sc ServiceCore
	if err := sc.InitService(ServiceOptions{PoolSize: 3}, HandlerFuncs{}); err != nil {
		t.Fatal(err)
	}
	ss := []*fakeSession{newFake(t), newFake(t), newFake(t)}
	ss[1].Retire() // acquired but not yet opened: its open path's Opened kicks it
	for range ss {
		sc.Pool().Acquire()
	}
	sc.BeginClose()
	KickOpen(&sc, ss)
	if ss[0].Reason() != KickShutdown || ss[2].Reason() != KickShutdown || ss[1].Kicked() {
		t.Errorf("reasons %v %v %v, want shutdown, none, shutdown", ss[0].Reason(), ss[1].Reason(), ss[2].Reason())
	}
	ss[1].Open(nil, nil)
	sc.Opened(ss[1])
	if ss[1].Reason() != KickShutdown {
		t.Errorf("a session opened during Close: reason %v, want shutdown", ss[1].Reason())
	}
}

// TestRecvRule: data is committed, counted and delivered; EOF with nothing queued kicks
// recv_0 at once, with data queued starts a drain that WriterDone ends; an error kicks
// recv_error; an overflow kicks recv_buffer_over_full.
func TestRecvRule(t *testing.T) {
	consume := HandlerFuncs{}
	for _, tc := range []struct {
		name      string
		h         Handler
		queued    string
		n         int
		err       error
		wantMore  bool
		wantKick  KickReason
		wantDrain bool
	}{
		{"data", consume, "", 5, nil, true, KickNone, false},
		{"data_and_eof", consume, "", 5, io.EOF, false, KickRecv0, false},
		{"eof", consume, "", 0, nil, false, KickRecv0, false},
		{"eof_drain", consume, "reply", 0, io.EOF, false, KickNone, true},
		{"error", consume, "", 0, errors.New("reset"), false, KickRecvError, false},
		{"overflow", HandlerFuncs{Recv: func(Session, []byte) int { return 0 }}, "", 64, nil, false, KickRecvBufferOverFull, false},
		{"bad_count", HandlerFuncs{Recv: func(Session, []byte) int { return -1 }}, "", 5, nil, false, KickPacketError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			if tc.queued != "" {
				f.Send([]byte(tc.queued))
			}
			var cnt Counters
			rb, _ := NewRecvBuffer(64)
			copy(rb.Free(), bytes.Repeat([]byte("x"), tc.n))
			more := f.Recv(f, tc.h, &cnt, rb, &f.q, tc.n, tc.err)
			if more != tc.wantMore || f.Reason() != tc.wantKick || (tc.wantDrain && !f.Draining()) {
				t.Fatalf("Recv = %v, kick %v, draining %v; want %v, %v, %v", more, f.Reason(), f.Draining(), tc.wantMore, tc.wantKick, tc.wantDrain)
			}
			if st := cnt.Snapshot(0); st.BytesRecv != uint64(tc.n) {
				t.Errorf("BytesRecv %d, want %d", st.BytesRecv, tc.n)
			}
			if tc.wantDrain {
				bufs := f.q.Peek(nil, 8)
				if f.Wrote(f, HandlerFuncs{}, &cnt, &f.q, len(bufs[0])) {
					t.Fatal("Wrote: more after the whole queue was written")
				}
				if f.Reason() != KickRecv0 {
					t.Errorf("after the drain: kick %v, want recv_0", f.Reason())
				}
			}
		})
	}
}

// TestFlush: the writer's turn over a gather writer: all written, blocked, failed, drained.
func TestFlush(t *testing.T) {
	for _, tc := range []struct {
		name     string
		write    GatherWriter
		drain    bool
		want     FlushResult
		wantKick KickReason
		wantLen  int
	}{
		{"all", func(b [][]byte) (int, bool, error) { return total(b), false, nil }, false, FlushDone, KickNone, 0},
		{"blocked", func(b [][]byte) (int, bool, error) { return 2, true, nil }, false, FlushBlocked, KickNone, 8},
		{"short", func(b [][]byte) (int, bool, error) { return 3, false, nil }, false, FlushBlocked, KickNone, 7},
		{"error", func(b [][]byte) (int, bool, error) { return 0, false, errors.New("broken pipe") }, false, FlushKicked, KickSendError, 10},
		{"drained", func(b [][]byte) (int, bool, error) { return total(b), false, nil }, true, FlushKicked, KickRecv0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Send([]byte("0123456789"))
			if tc.drain {
				f.draining.Store(true)
			}
			var cnt Counters
			var sent int
			h := HandlerFuncs{Sent: func(_ Session, n int) { sent += n }}
			got := f.Flush(f, h, &cnt, &f.q, make([][]byte, 0, 4), tc.write)
			if got != tc.want || f.Reason() != tc.wantKick {
				t.Fatalf("Flush = %v, kick %v; want %v, %v", got, f.Reason(), tc.want, tc.wantKick)
			}
			if f.q.Len() != tc.wantLen {
				t.Errorf("queued after Flush %d, want %d", f.q.Len(), tc.wantLen)
			}
			if st := cnt.Snapshot(0); int(st.BytesSent) != sent {
				t.Errorf("BytesSent %d, OnSend total %d", st.BytesSent, sent)
			}
		})
	}
}

func total(b [][]byte) int {
	n := 0
	for _, x := range b {
		n += len(x)
	}
	return n
}

// TestDeliverFrom: frames that straddle arrivals come out whole, windows never exceed Cap,
// and a frame larger than the buffer kicks with recv_buffer_over_full.
func TestDeliverFrom(t *testing.T) {
	var in bytes.Buffer
	for i := range 300 {
		n := i % 60
		in.WriteByte(byte(n))
		in.Write(bytes.Repeat([]byte{byte(i)}, n))
	}
	var out bytes.Buffer
	maxW := 0
	frames := HandlerFuncs{Recv: func(_ Session, w []byte) int {
		maxW = max(maxW, len(w))
		off := 0
		for off < len(w) && off+1+int(w[off]) <= len(w) {
			n := 1 + int(w[off])
			out.Write(w[off : off+n])
			off += n
		}
		return off
	}}
	rb, _ := NewRecvBuffer(64)
	f := newFake(t)
	data := in.Bytes()
	for i := 0; len(data) > 0; i++ {
		n := min(len(data), 1+i*7%97)
		if k := rb.DeliverFrom(frames, f, data[:n]); k != KickNone {
			t.Fatalf("DeliverFrom: %v", k)
		}
		data = data[n:]
	}
	if !bytes.Equal(out.Bytes(), in.Bytes()) || rb.Len() != 0 {
		t.Fatalf("framed output differs (%d of %d bytes, %d pending)", out.Len(), in.Len(), rb.Len())
	}
	if maxW > 64 {
		t.Errorf("window of %d bytes, Cap 64", maxW)
	}
	never := HandlerFuncs{Recv: func(Session, []byte) int { return 0 }}
	rb.Reset()
	if k := rb.DeliverFrom(never, f, make([]byte, 100)); k != KickRecvBufferOverFull {
		t.Errorf("oversize: %v, want recv_buffer_over_full", k)
	}
}

// runInside stands for an engine's loop: the callbacks run under it.
func runInside(f func()) { f() }

// TestInside: Current is true under a function of the set (and in a closure it runs), false
// elsewhere, and true in a job of a JobLoop.
func TestInside(t *testing.T) {
	in := InsideOf(runInside)
	if in.Current() {
		t.Error("Current is true in the test goroutine")
	}
	var got bool
	runInside(func() { func() { got = in.Current() }() })
	if !got {
		t.Error("Current is false under runInside")
	}
	l := NewJobLoop()
	defer l.Close()
	res := make(chan bool)
	l.Post(func() { res <- in.Current() })
	if !<-res {
		t.Error("Current is false in a job")
	}
}

// TestCloser: from outside, Close runs the teardown and waits; from inside it returns at
// once; a second Close waits for the first one's teardown.
func TestCloser(t *testing.T) {
	var c Closer
	in := InsideOf(runInside)
	release := make(chan struct{})
	ran := 0
	teardown := func() error { <-release; ran++; return errors.New("teardown error") }
	inside := make(chan error)
	go runInside(func() { inside <- c.Close(in.Current(), teardown) })
	if err := <-inside; err != nil {
		t.Fatalf("inside Close = %v, want nil at once", err)
	}
	waited := make(chan error)
	go func() { waited <- c.Close(in.Current(), teardown) }()
	select {
	case <-waited:
		t.Fatal("an outside Close returned before the teardown finished")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-waited; err != nil {
		t.Errorf("second Close = %v, want nil (the first caller owns the error)", err)
	}
	if ran != 1 {
		t.Errorf("teardown ran %d times", ran)
	}
	var c2 Closer
	if err := c2.Close(false, func() error { return io.EOF }); err != io.EOF {
		t.Errorf("outside first Close = %v, want the teardown's error", err)
	}
}

func TestServiceTable(t *testing.T) {
	tab := NewServiceTable[int](2)
	a, b, c := 1, 2, 3
	ia, _ := tab.Add(&a)
	ib, _ := tab.Add(&b)
	if _, err := tab.Add(&c); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("third Add in a table of 2 = %v, want ErrBadConfig", err)
	}
	tab.Release(ia)
	if tab.Get(ia) != nil {
		t.Error("Get after Release is not nil")
	}
	ic, err := tab.Add(&c)
	if err != nil || ic != ia || *tab.Get(ic) != 3 || *tab.Get(ib) != 2 {
		t.Errorf("Add after Release = %d, %v; want the released id %d", ic, err, ia)
	}
	if n := len(tab.All()); n != 2 {
		t.Errorf("All = %d services, want 2", n)
	}
	tab.Release(ic)
	for range 10000 { // any number over the table's life
		id, err := tab.Add(&a)
		if err != nil {
			t.Fatal(err)
		}
		tab.Release(id)
	}
}

func BenchmarkInsideCurrent(b *testing.B) {
	in := InsideOf(runInside)
	for b.Loop() {
		runInside(func() { in.Current() })
	}
}
