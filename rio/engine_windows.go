package rio

import (
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/models"
)

// Model (see README.md):
//
//   - Config.Loops loops, each one goroutine blocked in GetQueuedCompletionStatus on its own
//     completion port, owning one RIO completion queue (IOCP notification mode), one
//     registered region and one commit batch.
//   - A session belongs to one loop (its slot decides which): its request queue reports to
//     that loop's CQ, so OnConnect, OnRecv, OnSend and OnDisconnect all run on that loop.
//   - The listen socket is associated with one loop's port (AcceptEx completions); an accepted
//     socket is handed to its session's loop with PostQueuedCompletionStatus. A connecting
//     socket is associated with its session's loop (ConnectEx completions).
//   - Post queues the job and wakes loop 0 with PostQueuedCompletionStatus (the seed's
//     PushIocpJob): jobs run on loop 0 one at a time, in Post order.
//
// Copies per message: one kernel→registered receive slice (RIOReceive, the RecvBuffer's
// memory), one app→SendQueue (Send), one SendQueue→registered send part (the writer's copy,
// which stands where WSASend's kernel copy into AFD's buffers stands for iocp; RIOSend itself
// copies nothing). Same count as every other backend.

// Completion keys: the kind in the low byte, a service index above it. No Go pointer is ever
// hidden in a key or context; sessions are found by (service index, slot).
const (
	keyCQ       uintptr = iota + 1 // the CQ's RIONotify fired
	keyJob                         // Post
	keyQuit                        // Close
	keyOpen                        // an accepted socket handed to its session's loop (qty = slot)
	keyFinalize                    // a session's last reference dropped off its loop (qty = slot)
	keyAccept                      // AcceptEx completion on a listen socket
	keyConnect                     // ConnectEx completion on a connecting socket
)

func mkKey(kind uintptr, svc int) uintptr { return kind | uintptr(svc)<<8 }

// Request contexts (RIORESULT.RequestContext).
const (
	ctxRecv  uint64 = 1
	ctxSend0 uint64 = 2 // + send part index
)

const (
	sendParts     = 4                     // send parts per session (registered send slice = 4 × 16 KiB)
	sendPartSize  = models.SendChunkSize  // one RIOSend carries at most one part
	sendDepth     = 2                     // MaxOutstandingSend: more filled parts wait in the overflow queue
	recvDepth     = 1                     // MaxOutstandingReceive: the RecvBuffer is one window
	rqEntries     = recvDepth + sendDepth // CQ entries one RQ is charged
	initialCQSize = 1024
	dequeueBatch  = 256                     // RIORESULTs per RIODequeueCompletion
	segmentTarget = 4 << 20                 // registered segment size (rounded up to hold at least one slot)
	maxRegion     = min(1<<36, math.MaxInt) // per-loop ceiling on registered bytes
	acceptOps     = 8                       // AcceptEx calls kept pending per listener
	opSize        = 128                     // OVERLAPPED (32) + AcceptEx address buffer (2 × 44), rounded
	acceptAddrLen = uint32(unsafe.Sizeof(windows.RawSockaddrInet6{})) + 16
	maxServices   = 4096
)

// Available reports whether RIO works here; the error says why not (e.g. Wine:
// "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER) failed: WSAEOPNOTSUPP (10045)").
func Available() error { return loadRIO() }

// New builds a RIO engine.
func New(cfg models.Config) (models.Engine, error) {
	if err := loadRIO(); err != nil {
		return nil, err
	}
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(cfg.RecvBufferSize, sendPartSize, sendParts, segmentTarget)
	if err != nil {
		lay, err = newLayout(cfg.RecvBufferSize, sendPartSize, sendParts, cfg.RecvBufferSize+sendParts*sendPartSize)
		if err != nil {
			return nil, err
		}
	}
	e := &Engine{cfg: cfg, lay: lay, services: map[*service]struct{}{}}
	for i := range cfg.Loops {
		l, err := e.newLoop(i)
		if err != nil {
			e.stopLoops()
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		l.running = true
		go l.run()
	}
	return e, nil
}

// Engine is the RIO engine.
type Engine struct {
	cfg   models.Config
	lay   layout
	loops []*loop
	svcs  [maxServices]atomic.Pointer[service]
	nsvc  int // next service index, under mu

	mu       sync.Mutex
	services map[*service]struct{}
	closed   bool

	jobMu      sync.Mutex
	jobs       []func()
	jobsClosed bool

	closeOnce sync.Once
	closeErr  error
}

var _ models.Engine = (*Engine)(nil)

func (e *Engine) Name() string { return Name }

// Post queues job for loop 0 and wakes it with PostQueuedCompletionStatus.
func (e *Engine) Post(job func()) error {
	if job == nil {
		return fmt.Errorf("%w: nil job", models.ErrBadConfig)
	}
	e.jobMu.Lock()
	if e.jobsClosed {
		e.jobMu.Unlock()
		return models.ErrClosed
	}
	e.jobs = append(e.jobs, job)
	// Wake loop 0 under jobMu: Close marks jobsClosed under it too, so the port is still open.
	err := windows.PostQueuedCompletionStatus(e.loops[0].port, 0, keyJob, nil)
	e.jobMu.Unlock()
	return models.WrapOp(Name, "PostQueuedCompletionStatus", err)
}

// runJob runs the oldest queued job: one wake-up per Post, so FIFO order holds.
func (e *Engine) runJob() {
	e.jobMu.Lock()
	if len(e.jobs) == 0 {
		e.jobMu.Unlock()
		return
	}
	job := e.jobs[0]
	e.jobs[0] = nil
	e.jobs = e.jobs[1:]
	e.jobMu.Unlock()
	job()
}

// Close closes every service (kicking every session with KickShutdown and waiting for its
// OnDisconnect), runs the jobs already posted, stops the loops and releases the completion
// queues, registered regions and ports.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		svcs := make([]*service, 0, len(e.services))
		for s := range e.services {
			svcs = append(svcs, s)
		}
		e.mu.Unlock()
		for _, s := range svcs {
			s.Close()
		}
		e.jobMu.Lock()
		e.jobsClosed = true
		e.jobMu.Unlock()
		e.closeErr = e.stopLoops()
		for { // jobs whose wake-up was not consumed before the quit
			e.jobMu.Lock()
			n := len(e.jobs)
			e.jobMu.Unlock()
			if n == 0 {
				break
			}
			e.runJob()
		}
	})
	return e.closeErr
}

func (e *Engine) stopLoops() error {
	var first error
	for _, l := range e.loops {
		if l.running {
			windows.PostQueuedCompletionStatus(l.port, 0, keyQuit, nil)
		}
	}
	for _, l := range e.loops {
		if l.running {
			<-l.done
		}
		if err := l.release(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// reserveIndex gives s its index (indexes are never reused, so a stale completion key cannot
// name a newer service). It does not make s visible to Close: register does, once s is
// complete.
func (e *Engine) reserveIndex(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	if e.nsvc == maxServices {
		return fmt.Errorf("%w: rio: more than %d services on one engine", models.ErrBadConfig, maxServices)
	}
	s.idx = e.nsvc
	e.nsvc++
	return nil
}

// publish makes s reachable from completion keys and contexts; it runs before s issues any I/O.
func (e *Engine) publish(s *service) { e.svcs[s.idx].Store(s) }

// register makes a complete service (sessions, OVERLAPPEDs, listen socket: everything
// service.Close reads) visible to Engine.Close, and takes the setup reference on s.wg under
// the same lock that Close's snapshot takes. So Close either sees s whole, with the reference
// keeping its Close waiting until the setup has issued all its I/O (or seen closing and given
// up), or refuses it here, before any I/O. Without it Close saw half-built services: nil
// sessions (the releaseSlice panic) and a listen socket created after Close had looked for it,
// whose AcceptEx never completed (the hang).
func (e *Engine) register(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	s.wg.Add(1)
	e.services[s] = struct{}{}
	return nil
}

func (e *Engine) removeService(s *service) {
	e.mu.Lock()
	delete(e.services, s)
	e.mu.Unlock()
	e.svcs[s.idx].Store(nil)
}

func (e *Engine) service(key uintptr) *service {
	i := key >> 8
	if i >= maxServices {
		return nil
	}
	return e.svcs[i].Load()
}

// sessionByKey finds the session of a socket context (service index << 32 | slot).
func (e *Engine) sessionByKey(k uint64) *session {
	i := k >> 32
	if i >= maxServices {
		return nil
	}
	s := e.svcs[i].Load()
	if s == nil || uint32(k) >= uint32(len(s.sessions)) {
		return nil
	}
	return s.sessions[uint32(k)]
}

// loop is one completion port with its RIO completion queue.
type loop struct {
	e       *Engine
	idx     int
	port    windows.Handle
	ctrl    []byte // VirtualAlloc'd: the CQ notification's OVERLAPPED and RIO_NOTIFICATION_COMPLETION
	cqMu    sync.Mutex
	cq      uintptr
	budget  cqBudget
	region  *region
	batch   *batch
	results []rioResult
	commits []uint64
	running bool
	done    chan struct{}
}

func (e *Engine) newLoop(i int) (*loop, error) {
	l := &loop{e: e, idx: i, batch: newBatch(deferLimit), results: make([]rioResult, dequeueBatch),
		done: make(chan struct{}), budget: newCQBudget(initialCQSize)}
	port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 1)
	if err != nil {
		return nil, models.WrapOp(Name, "CreateIoCompletionPort", err)
	}
	l.port = port
	if l.ctrl, err = virtualAlloc(4096); err != nil {
		windows.CloseHandle(port)
		return nil, err
	}
	nc := (*rioNotificationCompletion)(unsafe.Pointer(&l.ctrl[64]))
	nc.Type = rioIOCPCompletion
	nc.IocpHandle = uintptr(port)
	nc.CompletionKey = keyCQ
	nc.Overlapped = uintptr(unsafe.Pointer(&l.ctrl[0]))
	if l.cq, err = rioCreateCompletionQueue(initialCQSize, nc); err != nil {
		l.release()
		return nil, models.WrapOp(Name, "RIOCreateCompletionQueue", err)
	}
	if err := rioNotify(l.cq); err != nil {
		l.release()
		return nil, models.WrapOp(Name, "RIONotify", err)
	}
	l.region = newRegion(e.lay, vaSegs{}, maxRegion)
	return l, nil
}

// release frees the loop's kernel resources once it has stopped.
func (l *loop) release() error {
	var err error
	if l.region != nil {
		err = l.region.close()
	}
	if l.cq != 0 {
		rioCloseCompletionQueue(l.cq)
		l.cq = 0
	}
	if l.port != 0 {
		windows.CloseHandle(l.port)
		l.port = 0
	}
	if err == nil && l.ctrl != nil { // a region still in use may still have kernel writes pending
		virtualFree(l.ctrl)
		l.ctrl = nil
	}
	return err
}

func (l *loop) run() {
	defer close(l.done)
	for {
		var qty uint32
		var key uintptr
		var ov *windows.Overlapped
		err := windows.GetQueuedCompletionStatus(l.port, &qty, &key, &ov, windows.INFINITE)
		if err != nil && ov == nil {
			panic(models.WrapOp(Name, fmt.Sprintf("GetQueuedCompletionStatus (loop %d)", l.idx), err))
		}
		switch key & 0xff {
		case keyQuit:
			return
		case keyCQ:
			l.drain()
		case keyJob:
			l.e.runJob()
		case keyOpen:
			if s := l.e.service(key); s != nil {
				s.sessions[qty].open()
			}
		case keyFinalize:
			if s := l.e.service(key); s != nil {
				s.sessions[qty].finalize()
			}
		case keyAccept:
			if s := l.e.service(key); s != nil {
				s.acceptDone(ov, err)
			}
		case keyConnect:
			if s := l.e.service(key); s != nil {
				s.connectDone(ov, err)
			}
		}
	}
}

// drain dequeues until the CQ is empty, inside one commit batch, commits the request queues
// the batch deferred, then re-arms RIONotify once. RIONotify on a non-empty CQ notifies at once,
// so completions that land after the last dequeue are not lost.
func (l *loop) drain() {
	l.batch.begin()
	for {
		l.cqMu.Lock()
		r := rioDequeueCompletion(l.cq, l.results)
		l.cqMu.Unlock()
		n, err := checkDequeue(r, len(l.results))
		if err != nil {
			// The kernel's view of the CQ is inconsistent: completions may be lost or bogus and
			// registered memory may still be written. Continuing would corrupt sessions silently.
			panic(models.WrapOp(Name, fmt.Sprintf("RIODequeueCompletion (loop %d)", l.idx), err))
		}
		if n == 0 {
			break
		}
		for i := range l.results[:n] {
			l.complete(&l.results[i])
		}
	}
	l.commits = l.batch.end(l.commits[:0])
	for _, k := range l.commits {
		if ss := l.e.sessionByKey(k); ss != nil {
			ss.commit()
		}
	}
	l.cqMu.Lock()
	err := rioNotify(l.cq)
	l.cqMu.Unlock()
	if err != nil {
		panic(models.WrapOp(Name, fmt.Sprintf("RIONotify (loop %d)", l.idx), err))
	}
}

func (l *loop) complete(r *rioResult) {
	ss := l.e.sessionByKey(r.SocketContext)
	if ss == nil {
		panic(fmt.Sprintf("rio: completion for unknown socket context %#x", r.SocketContext))
	}
	switch {
	case r.RequestContext == ctxRecv:
		ss.recvDone(r.Status, r.BytesTransferred)
	case r.RequestContext >= ctxSend0 && r.RequestContext < ctxSend0+sendParts:
		ss.sendDone(int(r.RequestContext-ctxSend0), r.Status, r.BytesTransferred)
	default:
		panic(fmt.Sprintf("rio: completion with unknown request context %#x", r.RequestContext))
	}
}

// reserveRQ charges one request queue against the CQ, resizing the CQ first when it is full
// (RIOResizeCompletionQueue), and creates the RQ. Serialized with the loop's other CQ calls.
func (l *loop) createRQ(sock windows.Handle, ctx uint64) (uintptr, error) {
	l.cqMu.Lock()
	defer l.cqMu.Unlock()
	resize, err := l.budget.reserve(rqEntries)
	if err != nil {
		return 0, err
	}
	if resize != 0 {
		if err := rioResizeCompletionQueue(l.cq, resize); err != nil {
			return 0, models.WrapOp(Name, "RIOResizeCompletionQueue", err)
		}
		l.budget.grown(resize, rqEntries)
	}
	rq, err := rioCreateRequestQueue(sock, recvDepth, sendDepth, l.cq, ctx)
	if err != nil {
		l.budget.release(rqEntries)
		return 0, models.WrapOp(Name, "RIOCreateRequestQueue", err)
	}
	return rq, nil
}

func (l *loop) releaseRQ() {
	l.cqMu.Lock()
	l.budget.release(rqEntries)
	l.cqMu.Unlock()
}

// sockaddr converts a TCP address for bind/ConnectEx.
func sockaddr(a *net.TCPAddr) (windows.Sockaddr, int) {
	if ip4 := a.IP.To4(); ip4 != nil || a.IP == nil {
		sa := &windows.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, windows.AF_INET
	}
	sa := &windows.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, windows.AF_INET6
}

func tcpAddr(sa windows.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *windows.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *windows.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		return &net.TCPAddr{IP: ip, Port: a.Port}
	}
	return &net.TCPAddr{}
}
