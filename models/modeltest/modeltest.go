// Package modeltest is the conformance suite every iobench backend runs from its own test
// file with one call:
//
//	func TestConformance(t *testing.T) { modeltest.Run(t, Name) }
//
// Each case is a named subtest that drives the backend over real sockets on 127.0.0.1 (port 0)
// with plain net.Conn peers from the test, and checks the guarantees of the models package doc
// (callback order, exactly-once OnDisconnect, kick reasons, graceful half-close, bounded send
// queue, RecvBuffer overflow, Post FIFO, leak-free Close). Every client I/O has a deadline, so
// a broken backend fails instead of hanging. Nothing asserts a duration: waits poll for a
// condition with a generous deadline.
//
// # Cases
//
//   - echo/size=S/conns=N: plain clients stream sequenced messages (seq + conn + CRC-32C from
//     12 B up, a (conn, seq) byte pattern below) through an echo service, S in 1 B, 64 B,
//     4 KiB, 64 KiB, 1 MiB and N in 1, 100, 1000 (one message per connection where S*N passes echoBudget; 1 MiB runs with 128, not 1000);
//     lost, duplicated, reordered, crossed or corrupt data fails; then each client
//     half-closes and must read EOF with nothing extra; every session ends with KickRecv0;
//     the counters (Accepted, BytesRecv, BytesSent, Kicks) and OnSend totals must agree.
//   - gather: goroutines and Post jobs Send 16 B messages on one session; per-sender order,
//     completeness, Sends counted exactly, Writes < Sends.
//   - pool_exhaustion: PoolSize 2; the third connection is closed with no data, counted in
//     Refused and Kicks[pool_exhaustion], gets no OnConnect; a freed slot serves again.
//   - kick/*: Kick in OnRecv (KickDisconnect, an app-defined reason), from another
//     goroutine, from 8 goroutines at once, racing the peer's close or reset, and while
//     goroutines Send: one OnDisconnect with the first reason, the peer sees the close,
//     Send afterwards returns ErrClosed, the service keeps serving.
//   - half_close: 512 KiB then CloseWrite; the echo comes back whole, then EOF; KickRecv0.
//   - half_close_drain: 12 MiB written without reading, then CloseWrite: the server sees the
//     EOF with the echo queued, writes it all out, then a FIN; KickRecv0.
//   - backpressure: 12 MiB echoed to a peer that reads only later: writes block and resume,
//     every byte in order, BytesSent exact.
//   - framed_windows: length-prefixed frames straddling reads with 64 B and 64 KiB
//     RecvBuffers: the echo equals the input, no window exceeds RecvBufferSize.
//   - peer_reset: SO_LINGER 0 close mid-stream; recv/send/io error reason, still serving.
//   - slow_consumer: a peer that never reads is flooded until Send returns
//     ErrSendQueueFull; KickSendQueueFull; bytes queued within the limit; heap growth
//     bounded; another session keeps echoing throughout.
//   - oversize_frame: RecvBufferSize 4 KiB, length-prefixed frames: a frame that exactly
//     fills the buffer works, a larger one kicks with KickRecvBufferOverFull.
//   - client: a CLIENT service of 8 sessions against a plain Go echo server; data both ways;
//     Service.Close ends all with KickShutdown before it returns.
//   - client_auto_reconnect: the server goes away and returns on the same port; every
//     session reconnects and echoes again.
//   - connect_failure: a CLIENT to a refused port errors or counts ConnectFailed.
//   - post: 4 goroutines Post 2000 jobs; they run one at a time in Post order; Post after
//     Close returns ErrClosed and the job never runs.
//   - close_in_flight: a client connecting while 16 sessions flood is served; then
//     Engine.Close with the 16 flooding server sessions, 4 ping-ponging client
//     sessions and an auto-reconnect service redialing a dead port: returns (hang check),
//     every OnDisconnect done with KickShutdown, Listen afterwards returns ErrClosed, and no
//     goroutine or (Linux) file descriptor of the engine remains.
//   - close_racing_setup: Engine.Close while 4 goroutines keep calling Listen and Connect:
//     returns, every session disconnected, no listener, goroutine or fd left behind.
//   - parity/*: the parity rules of the models package doc: nil_handler (Listen and Connect
//     refuse it), nodelay (accepted and dialled sockets, found by address among the
//     process's descriptors; Unix only), linger (an abortive kick resets the peer),
//     counters_in_disconnect, close_inside (Engine.Close from a callback and from a Post job
//     returns), many_services (4200 services opened and closed on one engine).
//   - bad_usage/*: bad listen addresses and a port in use give an error wrapping
//     *models.OpError; negative Config and ServiceOptions fields, wrong service types and a
//     pool smaller than Conns give ErrBadConfig.
//   - peer_closes_mid_frame, peer_resets_mid_frame (hostile.go): the real framed and
//     sockperf apps; peers send 2 bytes of a header, or a header and part of a payload, then
//     close (reset: SO_LINGER 0); every session ends once (recv_0; a recv/send/io error for a
//     reset), the pool slots and (Linux) fds come back, the process stays idle (CPU over a
//     second under a quarter of a core: no spinning goroutine), and clients are still served.
//   - idle_timeout (hostile.go): ServiceOptions.IdleTimeout on the framed app; a silent
//     connection and a slowloris trickling a frame are kicked with KickIdleTimeout, a peer
//     sending a frame every 50 ms is not, and a CLIENT session whose server never answers is.
//   - peer_writes_and_closes_at_once (hostile.go): 200 peers each connect, write a byte and
//     close at once: every one gets OnConnect then OnDisconnect; Accepted = Disconnects = 200.
//   - idle_holds_nothing (lazy.go): 64 framed sessions exchange a small and a 40 KiB
//     frame and go idle: a service that reports its buffers (models.ResidentReporter) holds
//     no send chunks and, with lazy RecvBuffers, no receive buffers within a bounded wait;
//     a partial frame pending holds exactly one; peers that close or reset mid-frame leave
//     no pooled buffer behind and no spin. Skipped on backends that report nothing.
//   - split_frame (lazy.go): framed frames up to 60 KiB written byte by byte (up to 2 KiB) and in random
//     cuts, with other sessions exchanging meanwhile, come back whole; nobody is kicked.
//
// A Tracker wraps every handler and checks the callback guarantees on every case.
//
// The suite is sized to stay well under a minute per backend with -race on a small, busy
// machine: the echo matrix bounds the bytes moved per case (see echoBudget).
package modeltest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

const (
	// ioTimeout bounds every blocking client read/write (refreshed as progress is made): a
	// broken backend fails the case instead of hanging the suite.
	ioTimeout = 20 * time.Second
	// waitTimeout bounds every poll for a condition (a disconnect, a counter).
	waitTimeout = 20 * time.Second
	// closeTimeout bounds Engine.Close and Service.Close: a hang check, not a speed check.
	closeTimeout = 10 * time.Second
	// loops is the Config.Loops every case uses.
	loops = 2
)

type testCase struct {
	name string
	fn   func(t *testing.T, backend string)
}

// cases is the contract, in the order Run runs it.
func cases() []testCase {
	cs := echoCases()
	cs = append(cs,
		testCase{"gather", testGather},
		testCase{"pool_exhaustion", testPoolExhaustion},
		testCase{"kick", testKick},
		testCase{"half_close", testHalfClose},
		testCase{"half_close_drain", testHalfCloseDrain},
		testCase{"backpressure", testBackpressure},
		testCase{"framed_windows", testFramedWindows},
		testCase{"peer_reset", testPeerReset},
		testCase{"slow_consumer", testSlowConsumer},
		testCase{"oversize_frame", testOversizeFrame},
		testCase{"client", testClient},
		testCase{"client_auto_reconnect", testAutoReconnect},
		testCase{"connect_failure", testConnectFailure},
		testCase{"post", testPost},
		testCase{"close_in_flight", testCloseInFlight},
		testCase{"close_racing_setup", testCloseRacingSetup},
		testCase{"bad_usage", testBadUsage},
		testCase{"parity/nil_handler", testNilHandler},
		testCase{"parity/nodelay", testNoDelay},
		testCase{"parity/linger", testLinger},
		testCase{"parity/counters_in_disconnect", testCountersInDisconnect},
		testCase{"parity/close_inside", testCloseInside},
		testCase{"parity/many_services", testManyServices},
	)
	cs = append(cs, hostileCases()...)
	return append(cs, lazyCases()...)
}

// Run runs the contract's cases as t.Run subtests against the registered backend name. If the
// backend is unavailable here (errors.Is(err, models.ErrUnsupported)), it skips with the
// reason.
func Run(t *testing.T, backend string) {
	b, err := models.Lookup(backend)
	if err != nil {
		t.Fatalf("modeltest: %v (is the backend package imported?)", err)
	}
	if err := b.Available(); err != nil {
		if errors.Is(err, models.ErrUnsupported) {
			t.Skipf("modeltest: %s unavailable here: %v", backend, err)
		}
		t.Fatalf("modeltest: %s.Available returned an error that does not match ErrUnsupported: %v", backend, err)
	}
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) { c.fn(t, backend) })
	}
}

// Open builds an engine of backend with cfg (Loops defaults to 2 here), skips the test if the
// backend is unsupported, and closes the engine at cleanup, failing if Close hangs.
func Open(tb testing.TB, backend string, cfg models.Config) models.Engine {
	tb.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = loops
	}
	eng, err := models.Open(backend, cfg)
	if err != nil {
		if errors.Is(err, models.ErrUnsupported) {
			tb.Skipf("%s unavailable: %v", backend, err)
		}
		tb.Fatalf("open %s: %v", backend, err)
	}
	if eng == nil {
		tb.Fatalf("open %s: nil engine and nil error", backend)
	}
	if eng.Name() != backend {
		tb.Errorf("engine Name() = %q, want %q", eng.Name(), backend)
	}
	tb.Cleanup(func() { CloseEngine(tb, eng) })
	return eng
}

// CloseEngine closes eng and fails (with a goroutine dump) if Close does not return within a
// generous bound. It is safe to call more than once (Engine.Close must be).
func CloseEngine(tb testing.TB, eng models.Engine) {
	tb.Helper()
	closeWithin(tb, "Engine.Close", eng.Close)
}

func closeWithin(tb testing.TB, what string, f func() error) {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("%s: %v", what, err)
		}
	case <-time.After(closeTimeout):
		tb.Errorf("%s did not return within %v (hang); goroutines:\n%s", what, closeTimeout, stacks())
	}
}

// Listen starts a SERVER service of h on 127.0.0.1:0 and closes it at cleanup.
func Listen(tb testing.TB, eng models.Engine, h models.Handler, opt models.ServiceOptions) models.Service {
	tb.Helper()
	svc, err := eng.Listen("127.0.0.1:0", h, opt)
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	if svc == nil {
		tb.Fatal("Listen: nil service and nil error")
	}
	if svc.Type() != models.ServiceServer {
		tb.Errorf("Listen service Type() = %v, want server", svc.Type())
	}
	ta, ok := svc.Addr().(*net.TCPAddr)
	if !ok || ta.Port == 0 {
		tb.Fatalf("Listen service Addr() = %v, want a bound TCP address", svc.Addr())
	}
	tb.Cleanup(func() { closeWithin(tb, "Service.Close", svc.Close) })
	return svc
}

// EchoHandler returns the RFC 862 echo app: every window goes back with one Send.
func EchoHandler() models.Handler {
	return models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		s.Send(w)
		return len(w)
	}}
}

// StartEcho starts an echo SERVER service on 127.0.0.1:0 (closed at cleanup).
func StartEcho(tb testing.TB, eng models.Engine) models.Service {
	tb.Helper()
	return Listen(tb, eng, EchoHandler(), models.ServiceOptions{})
}

// Dial connects a plain TCP client to addr with an I/O deadline, closed at cleanup.
func Dial(tb testing.TB, addr net.Addr) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
	if err != nil {
		tb.Fatalf("dial %v: %v", addr, err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(ioTimeout))
	tb.Cleanup(func() { tc.Close() })
	return tc
}

// RoundTrip writes p to c and reads back exactly len(p) bytes, which must equal p.
func RoundTrip(tb testing.TB, c net.Conn, p []byte) {
	tb.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(p); err != nil {
		tb.Fatalf("round trip write: %v", err)
	}
	got := make([]byte, len(p))
	if _, err := io.ReadFull(c, got); err != nil {
		tb.Fatalf("round trip read: %v", err)
	}
	if string(got) != string(p) {
		tb.Fatalf("round trip: got %q, want %q", trunc(got), trunc(p))
	}
}

// ExpectClosed reads c until the server's close shows: EOF or a reset. Data before it is
// discarded. A timeout fails: the server did not close the connection.
func ExpectClosed(tb testing.TB, c net.Conn) {
	tb.Helper()
	if err := readUntilClosed(c); err != nil {
		tb.Fatal(err)
	}
}

func readUntilClosed(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 32<<10)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("peer still open after %v: the server did not close the connection", ioTimeout)
		}
		return nil // any other error is a closed connection too
	}
}

// OnLoop runs fn as a Post job of eng (on the loop that runs its jobs) and waits for it: a
// white-box test's way to touch loop-owned state from the loop itself.
func OnLoop(tb testing.TB, eng models.Engine, fn func()) {
	tb.Helper()
	done := make(chan struct{})
	if err := eng.Post(func() { fn(); close(done) }); err != nil {
		tb.Fatalf("Post: %v", err)
	}
	select {
	case <-done:
	case <-time.After(waitTimeout):
		tb.Fatal("the Post job did not run")
	}
}

// WaitFor polls cond until it holds, failing after a generous deadline. It is for waiting on
// an outcome, never for asserting a duration.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Tracker wraps a Handler and checks the callback guarantees of the models package doc for
// every session: OnConnect first, OnRecv never concurrent with itself, no callback after
// OnDisconnect, OnDisconnect exactly once. Violations are recorded (callbacks may run on
// engine goroutines) and reported by Verify, which the test runs after the engine closed.
type Tracker struct {
	inner models.Handler

	mu         sync.Mutex
	sess       map[uint64]*tracked
	order      []uint64 // session IDs in OnConnect order
	violations []string
	reasons    map[models.KickReason]int

	connects, disconnects atomic.Int64
	onSends, onSendBytes  atomic.Int64
}

type tracked struct {
	sess         models.Session
	disconnected bool
	reason       models.KickReason
	inRecv       atomic.Int32
	recvs, sends atomic.Int64
}

var _ models.Handler = (*Tracker)(nil)

// Track wraps h (nil means consume everything and do nothing) and, at cleanup, reports the
// violations found.
func Track(tb testing.TB, h models.Handler) *Tracker {
	if h == nil {
		h = models.HandlerFuncs{}
	}
	k := &Tracker{inner: h, sess: map[uint64]*tracked{}, reasons: map[models.KickReason]int{}}
	tb.Cleanup(func() { k.reportViolations(tb) })
	return k
}

func (k *Tracker) violate(format string, args ...any) {
	k.mu.Lock()
	if len(k.violations) < 50 {
		k.violations = append(k.violations, fmt.Sprintf(format, args...))
	}
	k.mu.Unlock()
}

func (k *Tracker) lookup(s models.Session, cb string) *tracked {
	id := s.ID()
	k.mu.Lock()
	st := k.sess[id]
	k.mu.Unlock()
	if st == nil {
		k.violate("%s on session %d before its OnConnect", cb, id)
		return nil
	}
	k.mu.Lock()
	gone := st.disconnected
	k.mu.Unlock()
	if gone {
		k.violate("%s on session %d after its OnDisconnect", cb, id)
	}
	return st
}

func (k *Tracker) OnConnect(s models.Session) {
	id := s.ID()
	k.mu.Lock()
	if id == 0 {
		k.violations = append(k.violations, "session ID 0")
	}
	if _, dup := k.sess[id]; dup {
		k.violations = append(k.violations, fmt.Sprintf("OnConnect twice for session ID %d (IDs must be unique per connection)", id))
	}
	k.sess[id] = &tracked{sess: s}
	k.order = append(k.order, id)
	k.mu.Unlock()
	if s.UserData() != nil {
		k.violate("session %d starts with UserData %v, want nil", id, s.UserData())
	}
	k.connects.Add(1)
	k.inner.OnConnect(s)
}

func (k *Tracker) OnRecv(s models.Session, w []byte) int {
	st := k.lookup(s, "OnRecv")
	if st != nil {
		if st.inRecv.Add(1) != 1 {
			k.violate("concurrent OnRecv calls on session %d", s.ID())
		}
		st.recvs.Add(1)
		defer st.inRecv.Add(-1)
	}
	return k.inner.OnRecv(s, w)
}

func (k *Tracker) OnSend(s models.Session, n int) {
	if st := k.lookup(s, "OnSend"); st != nil {
		st.sends.Add(1)
	}
	if n <= 0 {
		k.violate("OnSend(%d) on session %d", n, s.ID())
	}
	k.onSends.Add(1)
	k.onSendBytes.Add(int64(n))
	k.inner.OnSend(s, n)
}

func (k *Tracker) OnDisconnect(s models.Session, r models.KickReason) {
	id := s.ID()
	k.mu.Lock()
	st := k.sess[id]
	switch {
	case st == nil:
		k.violations = append(k.violations, fmt.Sprintf("OnDisconnect on session %d without OnConnect", id))
	case st.disconnected:
		k.violations = append(k.violations, fmt.Sprintf("OnDisconnect twice on session %d (%v, then %v)", id, st.reason, r))
	default:
		st.disconnected, st.reason = true, r
		k.reasons[r]++
	}
	k.mu.Unlock()
	if st != nil && st.inRecv.Load() != 0 {
		k.violate("OnDisconnect on session %d while its OnRecv runs", id)
	}
	if r == models.KickNone {
		k.violate("OnDisconnect on session %d with KickNone", id)
	}
	k.inner.OnDisconnect(s, r)
	k.disconnects.Add(1)
}

// OnSends returns the number of OnSend calls and the bytes they reported.
func (k *Tracker) OnSends() (calls, bytes int64) { return k.onSends.Load(), k.onSendBytes.Load() }

// Connects is the number of OnConnect calls so far.
func (k *Tracker) Connects() int { return int(k.connects.Load()) }

// Disconnects is the number of OnDisconnect calls that returned so far.
func (k *Tracker) Disconnects() int { return int(k.disconnects.Load()) }

// Reasons counts the OnDisconnect reasons so far.
func (k *Tracker) Reasons() map[models.KickReason]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[models.KickReason]int, len(k.reasons))
	for r, n := range k.reasons {
		out[r] = n
	}
	return out
}

// Sessions returns the sessions seen by OnConnect, in order.
func (k *Tracker) Sessions() []models.Session {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]models.Session, len(k.order))
	for i, id := range k.order {
		out[i] = k.sess[id].sess
	}
	return out
}

// Reason returns the OnDisconnect reason of session id and whether it disconnected.
func (k *Tracker) Reason(id uint64) (models.KickReason, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.sess[id]
	if st == nil || !st.disconnected {
		return models.KickNone, false
	}
	return st.reason, true
}

// WaitDisconnects waits until n OnDisconnect calls returned.
func (k *Tracker) WaitDisconnects(tb testing.TB, n int) {
	tb.Helper()
	WaitFor(tb, fmt.Sprintf("%d OnDisconnect calls (have %d)", n, k.Disconnects()), func() bool { return k.Disconnects() >= n })
}

// WaitReason waits for session id's OnDisconnect and returns its reason.
func (k *Tracker) WaitReason(tb testing.TB, id uint64) models.KickReason {
	tb.Helper()
	var r models.KickReason
	WaitFor(tb, fmt.Sprintf("OnDisconnect of session %d", id), func() bool {
		var ok bool
		r, ok = k.Reason(id)
		return ok
	})
	return r
}

// Verify checks, once the engine or service has closed, that every session that got
// OnConnect got exactly one OnDisconnect, and reports every recorded violation.
func (k *Tracker) Verify(tb testing.TB) {
	tb.Helper()
	k.mu.Lock()
	var open []uint64
	for _, id := range k.order {
		if !k.sess[id].disconnected {
			open = append(open, id)
		}
	}
	k.mu.Unlock()
	if len(open) > 0 {
		tb.Errorf("%d sessions got OnConnect but no OnDisconnect after Close (IDs %v)", len(open), head(open, 10))
	}
	k.reportViolations(tb)
}

func (k *Tracker) reportViolations(tb testing.TB) {
	tb.Helper()
	k.mu.Lock()
	v := k.violations
	k.violations = nil
	k.mu.Unlock()
	for _, s := range v {
		tb.Errorf("callback contract: %s", s)
	}
}

func head[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func trunc(p []byte) []byte {
	if len(p) > 64 {
		return p[:64]
	}
	return p
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// plainServer is a Go net echo (or custom) server the CLIENT cases connect to; it tracks its
// connections so a test can drop them all.
type plainServer struct {
	tb     testing.TB
	listen func() (net.Listener, error)
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	handle func(net.Conn)
	wg     sync.WaitGroup
}

func newPlainServer(tb testing.TB, handle func(net.Conn)) *plainServer {
	tb.Helper()
	return newPlainServerOn(tb, handle, func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") })
}

// newPlainServerOn is newPlainServer listening with listen (which up calls again).
func newPlainServerOn(tb testing.TB, handle func(net.Conn), listen func() (net.Listener, error)) *plainServer {
	tb.Helper()
	if handle == nil {
		handle = plainEcho
	}
	ps := &plainServer{tb: tb, listen: listen, conns: map[net.Conn]struct{}{}, handle: handle}
	ln, err := listen()
	if err != nil {
		tb.Fatalf("plain listen: %v", err)
	}
	ps.serve(ln)
	tb.Cleanup(ps.stop)
	return ps
}

// plainEcho copies with a plain read/write loop: io.Copy between two TCPConns would splice
// through pipes that Go's poller caches process-wide, which the fd leak check would blame on
// the backend.
func plainEcho(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (ps *plainServer) serve(ln net.Listener) {
	ps.mu.Lock()
	ps.ln = ln
	ps.mu.Unlock()
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ps.mu.Lock()
			ps.conns[c] = struct{}{}
			ps.mu.Unlock()
			ps.wg.Add(1)
			go func() {
				defer ps.wg.Done()
				c.SetDeadline(time.Now().Add(2 * waitTimeout))
				ps.handle(c)
				c.Close()
				ps.mu.Lock()
				delete(ps.conns, c)
				ps.mu.Unlock()
			}()
		}
	}()
}

func (ps *plainServer) addr() net.Addr {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.ln.Addr()
}

// down closes the listener and every connection and waits for the handlers.
func (ps *plainServer) down() {
	ps.mu.Lock()
	if ps.ln != nil {
		ps.ln.Close()
	}
	for c := range ps.conns {
		c.Close()
	}
	ps.mu.Unlock()
	ps.wg.Wait()
}

// up listens again, retrying while the port is still busy.
func (ps *plainServer) up() error {
	deadline := time.Now().Add(waitTimeout)
	for {
		ln, err := ps.listen()
		if err == nil {
			ps.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (ps *plainServer) stop() { ps.down() }

func isRecvOrSendError(r models.KickReason) bool {
	return r == models.KickRecvError || r == models.KickSendError || r == models.KickIOError
}

func joinReasons(m map[models.KickReason]int) string {
	var b strings.Builder
	for r, n := range m {
		fmt.Fprintf(&b, "%v:%d ", r, n)
	}
	return b.String()
}
