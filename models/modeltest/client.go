package modeltest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// clientApp sends a 4 KiB message derived from the session ID on connect and checks that the
// echo comes back whole.
type clientApp struct {
	mu      sync.Mutex
	got     map[uint64][]byte
	done    atomic.Int64
	errs    []error
	sendErr atomic.Int64
}

const clientMsgLen = 4 << 10

func newClientApp() *clientApp { return &clientApp{got: map[uint64][]byte{}} }

func (a *clientApp) OnConnect(s models.Session) {
	msg := make([]byte, clientMsgLen)
	fillMessage(msg, uint32(s.ID()), 0)
	if err := s.Send(msg); err != nil {
		a.sendErr.Add(1)
	}
}

func (a *clientApp) OnRecv(s models.Session, w []byte) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := s.ID()
	b := append(a.got[id], w...)
	a.got[id] = b
	switch {
	case len(b) > clientMsgLen:
		a.errs = append(a.errs, fmt.Errorf("session %d: %d bytes back, sent %d", id, len(b), clientMsgLen))
	case len(b) == clientMsgLen:
		if err := checkMessage(b, uint32(id), 0); err != nil {
			a.errs = append(a.errs, err)
		}
		a.done.Add(1)
	}
	return len(w)
}

func (a *clientApp) OnSend(models.Session, int)                     {}
func (a *clientApp) OnDisconnect(models.Session, models.KickReason) {}

func (a *clientApp) check(tb testing.TB) {
	tb.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, err := range head(a.errs, 10) {
		tb.Error(err)
	}
	if n := a.sendErr.Load(); n > 0 {
		tb.Errorf("%d Sends failed in OnConnect", n)
	}
}

// testClient: a CLIENT service of N sessions to a plain Go echo server: OnConnect for each,
// data flows both ways, Service.Close ends every session with KickShutdown.
func testClient(t *testing.T, backend string) {
	const conns = 8
	ps := newPlainServer(t, nil)
	eng := Open(t, backend, models.Config{})
	app := newClientApp()
	k := Track(t, app)
	svc, err := eng.Connect(ps.addr().String(), k, models.ServiceOptions{Type: models.ServiceClient, Conns: conns})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if st := svc.Stats(); st.Connected+st.ConnectFailed != conns {
		t.Errorf("when Connect returned: Stats Connected=%d ConnectFailed=%d, want every first attempt finished (%d)", st.Connected, st.ConnectFailed, conns)
	}
	if svc.Type() != models.ServiceClient {
		t.Errorf("Type() = %v, want client", svc.Type())
	}
	if svc.Addr() == nil || svc.Addr().String() != ps.addr().String() {
		t.Errorf("Addr() = %v, want %v", svc.Addr(), ps.addr())
	}
	WaitFor(t, fmt.Sprintf("%d echoes", conns), func() bool { return app.done.Load() >= conns })
	app.check(t)
	if n := k.Connects(); n != conns {
		t.Errorf("%d OnConnect calls, want %d", n, conns)
	}
	if st := svc.Stats(); st.Connected != conns || st.Live != conns || st.ConnectFailed != 0 {
		t.Errorf("Stats Connected=%d Live=%d ConnectFailed=%d, want %d %d 0", st.Connected, st.Live, st.ConnectFailed, conns, conns)
	}
	closeWithin(t, "Service.Close", svc.Close)
	// Service.Close waits for every OnDisconnect.
	if n := k.Disconnects(); n != conns {
		t.Errorf("%d OnDisconnect calls when Service.Close returned, want %d", n, conns)
	}
	if r := k.Reasons(); r[models.KickShutdown] != conns {
		t.Errorf("disconnect reasons %s, want shutdown:%d", joinReasons(r), conns)
	}
	if st := svc.Stats(); st.Live != 0 || st.Disconnects != conns {
		t.Errorf("after Close Stats Live=%d Disconnects=%d, want 0 and %d", st.Live, st.Disconnects, conns)
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// testAutoReconnect: a CLIENT_AUTO_RECONNECT service reconnects every session after the server
// goes away and comes back on the same port.
func testAutoReconnect(t *testing.T, backend string) {
	const conns = 4
	addr, listen := reListenable(t)
	ps := newPlainServerOn(t, nil, listen)
	eng := Open(t, backend, models.Config{})
	app := newClientApp()
	k := Track(t, app)
	svc, err := eng.Connect(addr, k, models.ServiceOptions{
		Type: models.ServiceClientAutoReconnect, Conns: conns, ReconnectDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if svc.Type() != models.ServiceClientAutoReconnect {
		t.Errorf("Type() = %v, want client_auto_reconnect", svc.Type())
	}
	WaitFor(t, "first echoes", func() bool { return app.done.Load() >= conns })

	ps.down() // the server goes away: listener and connections closed
	k.WaitDisconnects(t, conns)
	if err := ps.up(); err != nil {
		t.Fatalf("re-listen on %s: %v", addr, err)
	}
	WaitFor(t, fmt.Sprintf("%d reconnects (OnConnect calls %d)", conns, k.Connects()), func() bool { return k.Connects() >= 2*conns })
	WaitFor(t, "echoes after reconnect", func() bool { return app.done.Load() >= 2*conns })
	app.check(t)
	if st := svc.Stats(); st.Connected < 2*conns {
		t.Errorf("Stats().Connected = %d, want >= %d", st.Connected, 2*conns)
	}
	closeWithin(t, "Service.Close", svc.Close)
	if c, d := k.Connects(), k.Disconnects(); c != d {
		t.Errorf("after Service.Close: %d OnConnect, %d OnDisconnect", c, d)
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// testConnectFailure: a CLIENT to a closed port fails (an error from Connect, or a counted
// ConnectFailed) and opens no session.
func testConnectFailure(t *testing.T, backend string) {
	addr, _ := deadAddr(t)
	eng := Open(t, backend, models.Config{})
	k := Track(t, nil)
	svc, err := eng.Connect(addr, k, models.ServiceOptions{Type: models.ServiceClient, Conns: 2})
	if err == nil {
		if st := svc.Stats(); st.ConnectFailed == 0 {
			t.Errorf("Connect to closed port %s: no error and Stats().ConnectFailed = 0", addr)
		}
		closeWithin(t, "Service.Close", svc.Close)
	} else {
		t.Logf("Connect to a closed port: %v", err)
	}
	if n := k.Connects(); n != 0 {
		t.Errorf("%d OnConnect calls for a closed port", n)
	}
	CloseEngine(t, eng)
	k.Verify(t)
}
