package uring

import (
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// sendSlotSize is the mmapped send memory of one session: a msghdr and MaxGather iovecs.
func sendSlotSize(maxGather int) int {
	n := int(unsafe.Sizeof(unix.Msghdr{})) + maxGather*int(unsafe.Sizeof(unix.Iovec{}))
	return (n + 63) &^ 63
}

// newService builds a service; setup (if any) completes it before Engine.Close can see it.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, setup func(*service)) (*service, error) {
	s := &service{eng: e, addr: addr}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	if !e.direct {
		var err error
		if s.recvPool, err = models.NewRecvPool(e.cfg.RecvBufferSize); err != nil {
			return nil, err
		}
	}
	stride := sendSlotSize(e.cfg.MaxGather)
	mem, err := unix.Mmap(-1, 0, stride*opt.PoolSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, models.WrapOp(Name, "mmap send memory", err)
	}
	s.sendMem, s.sessions = mem, make([]*session, opt.PoolSize)
	s.SetRedial(s.scheduleReconnect) // the connection token moves on to the next attempt
	for i := range s.sessions {
		ss := &session{svc: s, slot: i, fd: -1}
		ss.InitCore()
		ss.sq.Release() // closed until a connection opens it
		base := unsafe.Pointer(&mem[i*stride])
		ss.msg = (*unix.Msghdr)(base)
		ss.iovs = unsafe.Slice((*unix.Iovec)(unsafe.Add(base, unsafe.Sizeof(unix.Msghdr{}))), e.cfg.MaxGather)
		ss.msg.Iov = &ss.iovs[0]
		s.sessions[i] = ss
	}
	if setup != nil {
		setup(s)
	}
	if err := e.addService(s); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return s, nil
}

// service is one Listen or Connect (the seed's ServiceCoordinator).
type service struct {
	models.ServiceCore
	eng       *Engine
	addr      net.Addr
	sessions  []*session
	sendMem   []byte // msghdr + iovecs of every session, mmapped
	listeners []*listener
	// recvPool (multishot mode) holds the sessions' lazy RecvBuffers; in the direct mode
	// every slot that opened once keeps a RecvBuffer, counted in slotBufs.
	recvPool *models.RecvPool
	slotBufs atomic.Int64
	// wg counts listeners, server sessions and client connection tokens; Close waits for it.
	wg sync.WaitGroup
}

var (
	_ models.Service          = (*service)(nil)
	_ models.ResidentReporter = (*service)(nil)
)

func (s *service) Addr() net.Addr { return s.addr }

// Resident implements models.ResidentReporter: in the multishot mode a session holds a
// RecvBuffer only while a partial frame is pending (the bytes arrive in the loop's provided
// buffers); in the direct mode each slot keeps the one the kernel receives into.
func (s *service) Resident() models.Resident {
	return models.ResidentOf(s.Pool().Live(), s.recvPool, int(s.slotBufs.Load()), s.queues)
}

// queues yields every session's SendQueue (safe from any goroutine: the queues lock).
func (s *service) queues(yield func(*models.SendQueue) bool) {
	for _, ss := range s.sessions {
		if !yield(&ss.sq) {
			return
		}
	}
}

// Close stops accepting and connecting, kicks every open session once with KickShutdown (a
// session opening meanwhile kicks itself: models.ServiceCore.Opened) and waits for every
// OnDisconnect and every in-flight request of the service. Called from a loop it does that
// on another goroutine and returns: the loop must keep running for the service to close.
func (s *service) Close() error {
	s.CloseOnce(s.eng.onLoop(), s.stop, func() { models.KickOpen(&s.ServiceCore, s.sessions) }, s.wg.Wait, s.free)
	return nil
}

// stop cancels the listeners' accepts and the connects in flight, on their loops.
func (s *service) stop() {
	for _, ln := range s.listeners {
		ln.loop.post(msg{kind: mUnlisten, ln: ln})
	}
	if s.Type() != models.ServiceServer {
		for _, l := range s.eng.loops {
			l.post(msg{kind: mCancelConnects, svc: s})
		}
	}
}

// free releases the send memory; every session is closed and no SENDMSG is in flight.
func (s *service) free() {
	if s.sendMem != nil {
		unix.Munmap(s.sendMem)
		s.sendMem = nil
	}
	s.eng.removeService(s)
}

// scheduleReconnect keeps the connection token and dials again after ReconnectDelay.
func (s *service) scheduleReconnect() {
	time.AfterFunc(s.Options().ReconnectDelay, func() {
		s.eng.pickLoop().post(msg{kind: mConnect, att: &attempt{svc: s}})
	})
}

type listener struct {
	svc      *service
	loop     *loop
	fd       int
	ud       uint64 // user_data of the armed multishot accept
	armed    bool
	stopping bool
}

// attempt is one IORING_OP_CONNECT. sa is pinned while the request is in flight.
type attempt struct {
	svc   *service
	first func(error) // reports the first attempt of a Connect call; nil afterwards
	fd    int
	sa    unix.RawSockaddrAny
	pin   runtime.Pinner
}

func (a *attempt) report(err error) {
	if a.first != nil {
		a.first(err)
		a.first = nil
	}
}

// startConnect issues one IORING_OP_CONNECT for att on this loop. State: att.fd is the new
// socket and att.sa the pinned target until onConnect; the attempt holds the service's
// connection token (s.wg), which moves to the session, to a reconnect timer or is released.
func (l *loop) startConnect(att *attempt) {
	s := att.svc
	if s.Closing() || l.stopping {
		att.report(models.ErrClosed)
		s.wg.Done()
		return
	}
	family, sa, err := sock.Sockaddr(s.addr.(*net.TCPAddr))
	if err != nil {
		l.connectFailed(att, err)
		return
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.connectFailed(att, err)
		return
	}
	sock.SetNoDelay(fd)
	saLen := sock.RawSockaddr(sa, &att.sa)
	att.fd = fd
	att.pin.Pin(&att.sa)
	idx, rec := l.newOp(opConnect)
	rec.att = att
	s2 := l.sqe()
	s2.opcode = opcConnect
	s2.fd = int32(fd)
	s2.addr = uint64(uintptr(unsafe.Pointer(&att.sa)))
	s2.off = uint64(saLen)
	s2.userData = userData(opConnect, rec.gen, idx)
}

// onConnect is the completion of a connect: it unpins the target, and on success takes a
// pool slot and opens the session on this loop (the token moves to it); on failure, a
// closing service or an exhausted pool it counts, reports the first attempt and retries or
// releases the token (retryOrDone).
func (l *loop) onConnect(idx uint32, att *attempt, c cqe) {
	l.freeOp(idx)
	att.pin.Unpin()
	s := att.svc
	if c.res < 0 {
		unix.Close(att.fd)
		l.connectFailed(att, unix.Errno(-c.res))
		return
	}
	if s.Closing() {
		unix.Close(att.fd)
		att.report(models.ErrClosed)
		s.wg.Done()
		return
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		unix.Close(att.fd)
		l.retryOrDone(att, models.ErrPoolExhausted)
		return
	}
	s.Counters().Connected()
	l.open(s.sessions[slot], att.fd) // the connection token moves to the session
	att.report(nil)
}

// connectFailed counts a failed attempt and retries or releases its token.
func (l *loop) connectFailed(att *attempt, err error) {
	att.svc.Counters().ConnectFailed()
	l.retryOrDone(att, err)
}

// retryOrDone reports att's outcome to its Connect call (first attempt only), then keeps the
// token for a reconnect (CLIENT_AUTO_RECONNECT, service open) or releases it.
func (l *loop) retryOrDone(att *attempt, err error) {
	att.report(err)
	s := att.svc
	if s.AutoReconnect() && !s.Closing() {
		s.scheduleReconnect()
		return
	}
	s.wg.Done()
}
