package rio

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
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
	e := &Engine{cfg: cfg, lay: lay, services: map[*service]struct{}{}, svcs: models.NewServiceTable[service](maxServices), inside: models.InsideOf((*loop).run)}
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
	cfg    models.Config
	lay    layout
	loops  []*loop
	svcs   *models.ServiceTable[service] // index = service id (completion keys and contexts carry it)
	inside models.Inside                 // under the loops' run: callbacks and Post jobs

	mu       sync.Mutex
	services map[*service]struct{}
	closed   bool

	jobs   winsock.JobQueue
	closer models.Closer
}

var _ models.Engine = (*Engine)(nil)

func (e *Engine) Name() string { return Name }

// Post queues job for loop 0 and wakes it with PostQueuedCompletionStatus, one packet per job
// (FIFO). A Post whose packet cannot be posted leaves nothing queued (winsock.JobQueue).
func (e *Engine) Post(job func()) error {
	if job == nil {
		return fmt.Errorf("%w: nil job", models.ErrBadConfig)
	}
	return e.jobs.Post(job, func() error {
		// Under the queue's lock: Close marks it closed under the lock too, so the port is
		// still open here.
		return models.WrapOp(Name, "PostQueuedCompletionStatus", postQueued(e.loops[0].port, 0, keyJob, nil))
	}, models.ErrClosed)
}

// Close closes every service (kicking every session with KickShutdown and waiting for its
// OnDisconnect), runs the jobs already posted, stops the loops and releases the completion
// queues, registered regions and ports. Called from a loop (a callback or a Post job) it
// starts that and returns (models.Closer).
func (e *Engine) Close() error {
	return e.closer.Close(e.inside.Current(), func() error {
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
		e.jobs.Close()
		err := e.stopLoops()
		e.jobs.Drain() // jobs whose wake-up was not consumed before the quit
		return err
	})
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

// reserveIndex gives s its index and makes it reachable from completion keys and contexts
// (before s issues any I/O). It does not make s visible to Close: register does, once s is
// complete. Indexes are reused after removeService: by then every operation of s has
// completed and every packet naming it (open, finalize, accept, connect) has been dequeued,
// since each holds a reference on s.wg, so no stale key can reach the next service.
func (e *Engine) reserveIndex(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	id, err := e.svcs.Add(s)
	s.idx = id
	return err
}

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
	e.svcs.Release(s.idx)
}

func (e *Engine) service(key uintptr) *service {
	return e.svcs.Get(int(key >> 8))
}

// sessionByKey finds the session of a socket context (service index << 32 | slot).
func (e *Engine) sessionByKey(k uint64) *session {
	s := e.svcs.Get(int(k >> 32))
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
			l.e.jobs.RunOne()
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
