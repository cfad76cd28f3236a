package gnet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"

	gnetv2 "github.com/panjf2000/gnet/v2"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

// service is one ServiceCoordinator and the gnet.EventHandler of its gnet engine or client.
type service struct {
	gnetv2.BuiltinEventEngine
	adapter.Service

	eng      *Engine
	sessions []*session
	ready    atomic.Bool // Listen/Connect finished setting the service up
	// sideWriters and drains count side writers started (backpressure or half-close) and
	// half-close drains handed to them: rare paths, counted so tests can see they ran.
	sideWriters, drains atomic.Uint64

	// SERVER: the listener its accept loop serves.
	ln net.Listener
	// The gnet client whose loops serve the sessions (SERVER and CLIENT).
	cli *gnetv2.Client
}

var _ models.Service = (*service)(nil)
var _ gnetv2.EventHandler = (*service)(nil)

// Close closes the listener (ending the accept loop), kicks every open session once with
// KickShutdown, waits for every OnDisconnect and adapter goroutine (events, no poll), then
// stops the gnet client and waits for its loops.
func (s *service) Close() error {
	var err error
	s.CloseService(s.eng.Inside.Current(), func() {
		if s.ln != nil {
			s.ln.Close()
		}
	}, func() { models.KickOpen(&s.ServiceCore, s.sessions) }, func() {
		if s.cli != nil {
			err = s.cli.Stop()
		}
		s.eng.RemoveService(s)
	})
	return models.WrapOp(Name, "stop", err)
}

// OnOpen takes a pooled session for the new connection (or refuses it) and runs OnConnect.
// The session holds the service (TryHold) until its end.
func (s *service) OnOpen(c gnetv2.Conn) ([]byte, gnetv2.Action) {
	tok, _ := c.Context().(*dialToken)
	if !s.ready.Load() || !s.TryHold() {
		return nil, gnetv2.Close
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		s.Release()
		return nil, gnetv2.Close
	}
	if s.Type() == models.ServiceServer {
		s.Counters().Accepted()
	} else {
		s.Counters().Connected()
	}
	if tok != nil {
		tok.ok = true
	}
	ss := s.sessions[slot]
	ss.open(c, c.LocalAddr(), s.eng.Cfg)
	c.SetContext(ss)
	ss.inLoop.Store(true)
	s.Opened(ss)
	s.Handler().OnConnect(ss)
	return nil, ss.endCallbacks(c)
}

// OnTraffic delivers what gnet read (if anything: Conn.Wake calls it with nothing read) with
// the models receive rule over gnet's loop buffer, and runs the session's pending flush.
func (s *service) OnTraffic(c gnetv2.Conn) gnetv2.Action {
	ss, _ := c.Context().(*session)
	if ss == nil {
		return gnetv2.Close
	}
	if ss.Kicked() {
		return ss.closeAction(c)
	}
	ss.inLoop.Store(true)
	if buf, _ := c.Next(-1); len(buf) > 0 {
		ss.ReceivedFrom(ss, s.Handler(), s.Counters(), &ss.rb, buf)
	}
	return ss.endCallbacks(c)
}

// OnClose ends the session's connection: it records why (EOF, error, shutdown) and, after a
// peer half-close with sends still queued, hands the fd's dup to the side writer to drain.
func (s *service) OnClose(c gnetv2.Conn, err error) gnetv2.Action {
	ss, _ := c.Context().(*session)
	if ss == nil {
		return gnetv2.None
	}
	c.SetContext(nil)
	ss.connOpen.Store(false)
	if !ss.Kicked() {
		switch {
		case errors.Is(err, io.EOF):
			ss.SetDraining()
			if !ss.sq.Idle() && ss.drainAfterEOF(c) {
				break // the side writer's last turn ends the session with KickRecv0
			}
			ss.end(models.KickRecv0)
		case err == nil:
			if s.Closing() {
				ss.end(models.KickShutdown)
			} else {
				ss.end(models.KickIOError)
			}
		default:
			var se *os.SyscallError
			if errors.As(err, &se) && (se.Syscall == "write" || se.Syscall == "writev") {
				ss.end(models.KickSendError)
			} else {
				ss.end(models.KickRecvError)
			}
		}
	}
	ss.release()
	return gnetv2.None
}

// dialToken lets OnOpen tell a dialler whether its connection got a session.
type dialToken struct{ ok bool }

func (s *service) dial() error {
	var d net.Dialer
	c, err := d.DialContext(s.Ctx, "tcp", s.Addr().String())
	if err != nil {
		s.Counters().ConnectFailed()
		return err
	}
	tok := &dialToken{}
	if _, err := s.cli.EnrollContext(c, tok); err != nil { // EnrollContext closes c
		s.Counters().ConnectFailed()
		return err
	}
	if !tok.ok {
		if s.Closing() {
			return models.ErrClosed
		}
		return models.ErrPoolExhausted
	}
	return nil
}
