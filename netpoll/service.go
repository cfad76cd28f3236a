//go:build linux || darwin

package netpoll

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	cnetpoll "github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

// newService builds a service and makes it visible to Engine.Close. prepare (if not nil) sets
// what Close reads (the SERVER's EventLoop) before that, and the service holds its setup
// reference (adapter.Service) until Listen knows Serve can be shut down, or Connect's dialers
// hold their own: a Close racing Listen or Connect neither reads a half-built service nor
// shuts down an EventLoop before its Serve can see it.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, prepare func(*service) error) (*service, error) {
	s := &service{eng: e}
	if err := s.Init(opt, h, addr, s.dial); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		ss := &session{svc: s, slot: i}
		ss.ctx = &sessionCtx{Context: context.Background(), ss: ss}
		ss.requestFn = ss.clientRequest
		ss.closeFn = ss.onClosed
		ss.flushFn = ss.flushTask
		ss.writev = ss.write
		ss.InitCore()
		s.sessions[i] = ss
	}
	if prepare != nil {
		if err := prepare(s); err != nil {
			return nil, err
		}
	}
	if err := e.AddService(s); err != nil {
		return nil, err
	}
	return s, nil
}

type service struct {
	adapter.Service
	eng      *Engine
	sessions []*session
	// sideWriters and drains count side writers started (backpressure or half-close) and
	// half-close drains handed to them: rare paths, counted so tests can see they ran.
	sideWriters, drains atomic.Uint64

	evl       cnetpoll.EventLoop // SERVER
	serveDone chan struct{}
}

var _ models.Service = (*service)(nil)

// Close stops accepting/dialling, kicks every open session once with KickShutdown, waits for
// every OnDisconnect and adapter goroutine (events, no poll), then shuts the EventLoop down.
func (s *service) Close() error {
	var err error
	s.CloseService(s.eng.Inside.Current(), nil, func() { models.KickOpen(&s.ServiceCore, s.sessions) }, func() {
		if s.evl != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = s.evl.Shutdown(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				// Every session of ours has ended (CloseService waited for each OnDisconnect),
				// so what netpoll v0.7.2 still waits for is an entry of its own: server.onAccept
				// stores a connection after adding its close callback, and a connection the
				// poller closed in between (a peer hanging up at once) is never removed, and
				// never idle while unread bytes sit in its buffer. Its fd is closed (the
				// EMFILE conformance case sees the fds back to base before this Close), so
				// Close succeeds; Engine.staleShutdowns counts it.
				s.eng.staleShutdowns.Add(1)
				err = nil
			}
			<-s.serveDone
		}
		s.eng.RemoveService(s)
	})
	return models.WrapOp(Name, "shutdown", err)
}

// onPrepare is netpoll's OnPrepare for accepted connections: it runs on the listener's
// poller goroutine before netpoll registers the connection with a poller, so the session and
// its close callback exist before any event of the connection can be handled. Not OnConnect:
// that runs after the registration, and a peer that writes and closes at once can be seen by
// its poller first; netpoll v0.7.2's server then drops the connection without OnConnect
// (server.onAccept returns when the new connection is no longer active), so no session would
// open and no OnDisconnect run (modeltest parity/counters_in_disconnect saw 3 of 4 such
// connections about one run in ten).
func (s *service) onPrepare(c cnetpoll.Connection) context.Context {
	ss := s.start(c, c.LocalAddr(), c.RemoteAddr())
	if ss == nil {
		return context.Background() // refused: start closed it, netpoll will not register it
	}
	ss.release()
	return ss.ctx
}

// onRequest is netpoll's OnRequest for accepted connections.
func (s *service) onRequest(ctx context.Context, c cnetpoll.Connection) error {
	sc, _ := ctx.(*sessionCtx)
	if sc == nil { // refused: drop what arrived
		c.Reader().Skip(c.Reader().Len())
		c.Reader().Release()
		return nil
	}
	sc.ss.handle(c)
	return nil
}

// start takes a pooled session for c (or refuses it), registers the close callback and runs
// OnConnect. It runs before netpoll registers the connection (server: OnPrepare) or before
// OnRequest is set (client), so no OnRequest can run before it returns. The session comes back with an extra
// hold, so a close during OnConnect cannot finalize it before the caller is done with it;
// the session holds the service (TryHold) until its end.
func (s *service) start(c cnetpoll.Connection, local, remote net.Addr) *session {
	if !s.TryHold() {
		c.Close()
		return nil
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		s.Release()
		c.Close()
		return nil
	}
	if s.Type() == models.ServiceServer {
		s.Counters().Accepted()
	} else {
		s.Counters().Connected()
	}
	ss := s.sessions[slot]
	ss.open(c, s.eng.Cfg, local, remote)
	ss.holds.Add(1)
	// The close callback before Opened: Opened kicks (closes c) when the service began
	// closing meanwhile, and a callback added after the close never runs (the session would
	// hold the service forever and Close hang).
	c.AddCloseCallback(ss.closeFn)
	s.Opened(ss)
	ss.inCb.Store(true)
	s.Handler().OnConnect(ss)
	ss.endCallbacks()
	return ss
}

// dial connects with Go's dialer under the service's context, so Service.Close (and the load
// generator's connect timeout, which closes the engine) stops a connect in progress at once:
// netpoll's own DialConnection takes a fixed timeout and no context. The connected socket is
// then handed to netpoll as a duplicate descriptor (the same open file, so O_NONBLOCK and
// TCP_NODELAY carry over) and Go's copy is closed, which also takes it off Go's poller.
func (s *service) dial() error {
	c, local, remote, err := dialFD(s.Ctx, s.Addr().String())
	if err != nil {
		s.Counters().ConnectFailed()
		return err
	}
	ss := s.start(c, local, remote)
	if ss == nil {
		if s.Closing() {
			return models.ErrClosed
		}
		return models.ErrPoolExhausted
	}
	c.SetOnRequest(ss.requestFn)
	if !c.IsActive() {
		// Closed by the peer before the callbacks were in place: netpoll runs close callbacks
		// of a connection without handlers only on a user Close.
		c.Close()
	}
	ss.release()
	return nil
}

// dialFD connects to addr and returns the socket as a netpoll Connection with its addresses
// (a Connection made from a descriptor does not know them).
func dialFD(ctx context.Context, addr string) (cnetpoll.Connection, net.Addr, net.Addr, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	defer nc.Close()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, nil, nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(sfd uintptr) { fd, derr = unix.FcntlInt(sfd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, nil, nil, err
	}
	if derr != nil {
		return nil, nil, nil, derr
	}
	c, err := cnetpoll.NewFDConnection(fd)
	if err != nil {
		unix.Close(fd)
		return nil, nil, nil, err
	}
	return c, nc.LocalAddr(), nc.RemoteAddr(), nil
}
