package iocp

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

// Completion key layout: kind(4) | service(12) | generation(24) | slot(24). The key never
// carries a pointer: the service index finds the service in the engine's table, the slot its
// session, and the generation (bumped each time a new socket is attached to the slot) tells
// a packet meant for an earlier socket of the slot from a current one.
const (
	kindJob      = 1 + iota // run one posted job (loop 0); key has no index
	kindQuit                // stop the loop
	kindListen              // AcceptEx completion of a service's listener, or (no OVERLAPPED) close it
	kindSock                // I/O completion on a session socket
	kindOpen                // run OnConnect and the first WSARecv of an accepted session
	kindWrite               // start a gather write (Send from a goroutine other than the loop)
	kindKick                // the session was kicked: cancel its I/O, drop the connection reference
	kindShutdown            // the service is closing: kick, or cancel a pending ConnectEx
	kindRetire              // a closed service's barrier: no packet naming it is queued behind
	kindLog                 // a log file's wake-up or write completion (logfile_windows.go); slot = log id

	maxServices = 1 << 12
	maxSlots    = 1 << 24
	genMask     = 1<<24 - 1
)

func makeKey(kind, svc int, gen uint32, slot int) uintptr {
	return uintptr(uint64(kind)<<60 | uint64(svc)<<48 | uint64(gen&genMask)<<24 | uint64(slot))
}

func splitKey(k uintptr) (kind, svc int, gen uint32, slot int) {
	u := uint64(k)
	return int(u >> 60), int(u >> 48 & (maxServices - 1)), uint32(u >> 24 & genMask), int(u & (maxSlots - 1))
}

// batchSize is how many completions one GetQueuedCompletionStatusEx call may dequeue.
const batchSize = 128

func available() error {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return models.Unsupported(Name, "needs 64-bit Windows (completion keys pack kind, index and generation into 64 bits)")
	}
	if err := procGetQueuedCompletionStatusEx.Find(); err != nil {
		return models.Unsupported(Name, "kernel32.dll lacks GetQueuedCompletionStatusEx: "+err.Error())
	}
	return nil
}

// Engine is the IOCP engine: Config.Loops completion ports, each with one thread.
type Engine struct {
	cfg   models.Config
	loops []*loop

	svcs   *models.ServiceTable[service] // index = service id (completion keys carry it)
	inside models.Inside                 // under the loops' run: callbacks and Post jobs
	jobs   winsock.JobQueue

	closer  models.Closer
	mu      sync.Mutex // guards closed, logs, nextLog
	closed  bool
	logs    map[int]*portLog // open log files by id (kindLog keys carry it)
	nextLog int
}

var _ models.Engine = (*Engine)(nil)

// loop is one completion port and the OS thread that drains it.
type loop struct {
	eng      *Engine
	idx      int
	port     windows.Handle
	tid      atomic.Uint32 // the locked OS thread's id: Send/Kick on it act directly
	done     chan struct{}
	deferred []completion // operations that completed inline; loop goroutine only
	running  []completion // the round of deferred entries being dispatched; loop goroutine only
}

// completion is one dequeued packet, or an operation that completed (or failed) inline and
// was deferred to the end of the current dispatch.
type completion struct {
	key    uintptr
	ov     *windows.Overlapped
	n      uint32
	status uintptr // NTSTATUS of a dequeued packet (0 = success)
	err    error   // error of an inline completion
	inline bool
}

func newEngine(cfg models.Config) (models.Engine, error) {
	if err := available(); err != nil {
		return nil, err
	}
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, svcs: models.NewServiceTable[service](maxServices), inside: models.InsideOf((*loop).run)}
	for i := range cfg.Loops {
		port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 1)
		if err != nil {
			e.stopLoops()
			return nil, models.WrapOp(Name, "CreateIoCompletionPort", err)
		}
		l := &loop{eng: e, idx: i, port: port, done: make(chan struct{})}
		e.loops = append(e.loops, l)
		ready := make(chan struct{})
		go l.run(ready)
		<-ready
	}
	return e, nil
}

func (e *Engine) Name() string { return Name }

// Post is the seed's PushIocpJob: the job is queued and a packet with the reserved job key
// is posted to loop 0's port, whose thread runs one queued job per packet, in queue order. A
// Post whose packet cannot be posted leaves nothing queued (winsock.JobQueue).
func (e *Engine) Post(job func()) error {
	if job == nil {
		return fmt.Errorf("%w: %v", models.ErrBadConfig, errNilJob)
	}
	return e.jobs.Post(job, func() error {
		return models.WrapOp(Name, "PostQueuedCompletionStatus", e.loops[0].post(makeKey(kindJob, 0, 0, 0)))
	}, models.ErrClosed)
}

func (e *Engine) service(id int) *service { return e.svcs.Get(id) }

func (e *Engine) addService(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	id, err := e.svcs.Add(s)
	s.id = id
	return err
}

// removeService frees s's id once every loop has dequeued a barrier packet posted now: a
// wake-up packet naming s (a shutdown, a kick) still queued then reaches s, not a new
// service that reused the id. Without running loops (engine closed) no packet can come.
func (e *Engine) removeService(s *service) {
	s.retire.Store(int32(len(e.loops)))
	for _, l := range e.loops {
		if l.post(makeKey(kindRetire, s.id, 0, 0)) != nil {
			s.retired()
		}
	}
}

// Close closes every service (each waits for its sessions' OnDisconnect), runs the jobs
// already posted, stops the loops and closes the ports. Called from a loop (a callback or a
// Post job) it starts that and returns (models.Closer).
func (e *Engine) Close() error {
	return e.closer.Close(e.inside.Current(), func() error {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		for _, s := range e.svcs.All() {
			s.Close()
		}
		e.jobs.Close()
		e.stopLoops()
		return nil
	})
}

func (e *Engine) stopLoops() {
	for _, l := range e.loops {
		windows.PostQueuedCompletionStatus(l.port, 0, makeKey(kindQuit, 0, 0, 0), nil)
	}
	for _, l := range e.loops {
		<-l.done
		windows.CloseHandle(l.port)
	}
}

func (l *loop) post(key uintptr) error {
	return windows.PostQueuedCompletionStatus(l.port, 0, key, nil)
}

// onLoop reports whether the caller runs on this loop's locked thread (and so is this loop's
// goroutine: a locked thread runs no other goroutine).
func (l *loop) onLoop() bool { return windows.GetCurrentThreadId() == l.tid.Load() }

// deferTo queues an operation that completed inline (or a kick noticed inside a callback), to
// be dispatched once the current dispatch has returned, so callbacks never nest.
func (l *loop) deferTo(c completion) {
	c.inline = true
	l.deferred = append(l.deferred, c)
}

// run is the loop: dequeue a batch of packets, dispatch each, and run the operations that
// completed inline in bounded rounds (runDeferred) between them.
//
// Fairness: with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS a busy socket's WSARecv keeps
// completing inline (data is already buffered), and handling it posts the next WSARecv,
// which completes inline again. Were the deferred list drained until empty, one flooding
// peer would keep the thread away from the port forever: no AcceptEx completion, no
// Send/kick wake-up, no shutdown or quit packet would ever be dequeued. So runDeferred
// handles only the entries queued before it started; what they queue waits for the next
// round, and while anything is deferred the port is polled without blocking (timeout 0), so
// every packet already queued is served between two rounds. Each busy socket thus gets one
// operation per round, like every other socket and every packet.
func (l *loop) run(ready chan<- struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.done)
	l.tid.Store(windows.GetCurrentThreadId())
	close(ready)
	entries := make([]overlappedEntry, batchSize)
	for {
		timeout := uint32(windows.INFINITE)
		if len(l.deferred) > 0 {
			timeout = 0 // work is waiting: only collect what the port already holds
		}
		n, err := getQueuedCompletionStatusEx(l.port, entries, timeout)
		if err != nil {
			n = 0
			// The seed's classification: a timeout is normal (here: the port was empty), an
			// abandoned port (or an invalid handle) means the port was closed: shutdown.
			// Anything else is unexpected; keep serving rather than strand the loop's
			// sessions, without spinning when there is nothing deferred to do meanwhile.
			switch err {
			case errTimeout:
			case errAbandoned, errInvalidHandle:
				return
			default:
				if len(l.deferred) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		quit := false
		for i := range entries[:n] {
			en := &entries[i]
			c := completion{key: en.Key, ov: en.Overlapped, n: en.Qty, status: en.Internal}
			*en = overlappedEntry{}
			if !l.dispatch(c) {
				quit = true
			}
			l.runDeferred()
		}
		if n == 0 {
			l.runDeferred()
		}
		if quit {
			if l.idx == 0 {
				l.eng.jobs.Drain() // jobs whose packets came after the quit
			}
			return
		}
	}
}

// runDeferred dispatches one round: the deferred entries queued before it was called. What
// they defer in turn (an inline completion of the WSARecv or WSASend they re-issue, a kick)
// is left for the next round, after the port has been polled again (see run).
func (l *loop) runDeferred() {
	if len(l.deferred) == 0 {
		return
	}
	// Double-buffered: dispatch appends to the other slice, never to the one being walked.
	round := l.deferred
	l.deferred, l.running = l.running[:0], round
	for i := range round {
		l.dispatch(round[i])
	}
	clear(round)
	l.running = round[:0]
}

// dispatch handles one completion; it returns false for the quit packet.
func (l *loop) dispatch(c completion) bool {
	kind, svcID, gen, slot := splitKey(c.key)
	switch kind {
	case kindJob:
		l.eng.jobs.RunOne()
		return true
	case kindQuit:
		return false
	case kindLog:
		l.logCompleted(gen, slot, c)
		return true
	}
	s := l.eng.service(svcID)
	if s == nil {
		return true // a wake-up packet for a service that has closed since
	}
	if kind == kindRetire {
		s.retired()
		return true
	}
	if kind == kindListen {
		if ln := s.ln.Load(); ln != nil {
			ln.complete(l, c)
		}
		return true
	}
	if slot >= len(s.sessions) {
		return true
	}
	ss := s.sessions[slot]
	if ss.gen.Load()&genMask != gen {
		return true // meant for an earlier socket of this slot
	}
	switch kind {
	case kindSock:
		ss.complete(l, c)
	case kindOpen:
		ss.handleOpen(l)
	case kindWrite:
		ss.handleWrite(l)
	case kindKick:
		ss.handleKick()
	case kindShutdown:
		ss.handleShutdown()
	}
	return true
}
