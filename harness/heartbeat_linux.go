package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// hbConn is one idle connection of the heartbeat driver: about 80 bytes while idle (its
// partial-reply and unsent buffers exist only while one is pending).
type hbConn struct {
	fd       int32
	j        int32  // its slot in the whole load's schedule
	src      uint32 // its source address index until it is bound, then its frames' source
	id       uint32 // its frames' source: SrcBase + its index
	up, dead bool
	nextRecv uint64
	part     []byte // the start of a reply not yet complete
	out      []byte // the unsent rest of heartbeats after a short write
}

// hbWorker owns an epoll instance and a share of the connections, which it connects, drives
// from its timer ring and reads; nothing else touches them while it runs.
type hbWorker struct {
	d          *hbDriver
	epfd, evfd int
	conns      []hbConn
	round      uint64 // the ring's round: the seq the cursor's connection sends next
	cursor     int
	buf, frame []byte
	codec      proto.Client
	hist       *hdrhistogram.Histogram
	slices     []slice // the window's SliceInterval slices, by due time

	sent, recv atomic.Uint64 // whole load, read by the drain
	caughtUp   atomic.Bool   // every heartbeat due before sendUntil is sent

	// the window's account (written by this worker only, read after it ended)
	hbSent, answered, late, lateSent uint64
	maxLag                           int64
	reordered, dup, corrupt          uint64
	errN                             uint64
}

// hbDriver is one heartbeat-driver load in progress.
type hbDriver struct {
	cfg       LoadConfig
	target    unix.SockaddrInet4
	sched     hbSchedule
	workers   []*hbWorker
	started   atomic.Bool  // sched.t0 is set
	winFrom   atomic.Int64 // MaxInt64 until the window starts
	winTo     atomic.Int64 // MaxInt64 until it ends
	sendUntil atomic.Int64 // no heartbeat due at or after it is sent (MaxInt64: no bound)
	quit      atomic.Bool
	allowance atomic.Int64 // connects that may be started (the connect window)
	begun     atomic.Int64 // connects started
	connected atomic.Int64
	firstErr  atomic.Pointer[string]
	wg        sync.WaitGroup
}

func (d *hbDriver) fail(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	d.firstErr.CompareAndSwap(nil, &s)
}

func (d *hbDriver) err() error {
	if p := d.firstErr.Load(); p != nil {
		return errors.New(*p)
	}
	return nil
}

// wake interrupts every worker's epoll_wait.
func (d *hbDriver) wake() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	for _, w := range d.workers {
		unix.Write(w.evfd, one)
	}
}

// hbConnectWindow is the default number of connections the driver keeps connecting ahead of
// what the server has accepted: well inside the listen backlog (somaxconn, 4096), so the
// accept queue never overflows into SYN retransmissions a second later.
const hbConnectWindow = 1024

// loadIdle runs a heartbeat-driver load (cfg validated).
func loadIdle(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	ap, err := netip.ParseAddrPort(cfg.Target)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("heartbeat driver: target %q: want an IPv4 HOST:PORT", cfg.Target)
	}
	perAddr := cfg.SrcPerAddr
	if perAddr == 0 {
		ports, err := ephemeralPorts()
		if err != nil {
			return nil, err
		}
		perAddr = max(ports/2, 1)
	}
	// Connection j of this load is the whole load's connection g = SrcBase+j: its schedule
	// slot and its source address come from g, so the shares of one load on one host keep
	// to perAddr connections per address and spread their heartbeats as one schedule.
	total := cfg.ScheduleConns
	if total <= 0 {
		total = cfg.Conns
	}
	srcs, err := sourceAddrs(ap.Addr(), int(cfg.SrcBase)+cfg.Conns, perAddr)
	if err != nil {
		return nil, err
	}
	d := &hbDriver{cfg: cfg, target: unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()},
		sched: hbSchedule{period: int64(cfg.Heartbeat), conns: total}}
	d.winFrom.Store(math.MaxInt64)
	d.winTo.Store(math.MaxInt64)
	d.sendUntil.Store(math.MaxInt64)
	window := cfg.ConnectWindow
	if window <= 0 {
		window = hbConnectWindow
	}
	if cfg.ServerSessions == nil {
		d.allowance.Store(math.MaxInt64)
	} else {
		d.allowance.Store(int64(window))
	}
	nw := min(max(runtime.GOMAXPROCS(0), 1), cfg.Conns)
	if cfg.Loops > 0 {
		nw = min(cfg.Loops, cfg.Conns)
	}
	defer d.close()
	for i := range nw {
		w := &hbWorker{d: d, epfd: -1, evfd: -1, buf: make([]byte, 64<<10), hist: newHist(),
			slices: make([]slice, int(cfg.Duration/SliceInterval)+2)}
		d.workers = append(d.workers, w)
		if w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		if w.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("eventfd: %w", err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: -1}
		if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.evfd, &ev); err != nil {
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
		if w.codec, err = proto.NewClient(proto.Framed, cfg.Size, 0); err != nil {
			return nil, err
		}
		for j := i; j < cfg.Conns; j += nw {
			g := int(cfg.SrcBase) + j
			var src uint32
			if srcs != nil {
				src = uint32(g / perAddr)
			}
			w.conns = append(w.conns, hbConn{fd: -1, j: int32(g % total), src: src, id: cfg.SrcBase + uint32(j)})
		}
	}
	// The load's connection numbers (frame sources) are SrcBase + j; the source address
	// index is kept in hbConn.src until the socket is bound, then replaced.
	res := &LoadResult{Config: cfg, ClientCPU: -1, Hist: newHist(), SourceAddrs: 1}
	if srcs != nil {
		res.SourceAddrs = (int(cfg.SrcBase)+cfg.Conns-1)/perAddr - int(cfg.SrcBase)/perAddr + 1
	}
	t0c := time.Now()
	for _, w := range d.workers {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); w.run(srcs) }()
	}
	if err := d.waitConnected(ctx); err != nil {
		return nil, err
	}
	if cfg.BeforeTraffic != nil {
		if err := cfg.BeforeTraffic(); err != nil {
			return nil, err
		}
	}
	res.ConnectTime = time.Since(t0c)
	res.Connected = uint64(d.connected.Load())
	if err := (&loadGen{cfg: cfg}).waitStart(ctx); err != nil {
		return nil, err
	}
	d.sched.t0 = nowNs()
	d.started.Store(true)
	d.wake()
	ok := sleepCtx(ctx, cfg.Warmup)
	var cpu0 time.Duration
	cpuErr := errors.New("not measured")
	var wall0 time.Time
	if ok {
		if cfg.BeforeWindow != nil {
			cfg.BeforeWindow()
		}
		cpu0, cpuErr = selfCPU()
		wall0 = time.Now()
		d.winFrom.Store(nowNs())
		ok = sleepCtx(ctx, cfg.Duration)
		end := nowNs()
		d.winTo.Store(end)
		d.sendUntil.Store(end)
		cpu1, cpuErr1 := selfCPU()
		if cfg.AfterWindow != nil {
			cfg.AfterWindow()
		}
		if cpuErr == nil && cpuErr1 == nil {
			res.ClientCPU = cpu1 - cpu0
		}
	} else {
		d.sendUntil.Store(nowNs())
	}
	d.drain(ctx)
	d.quit.Store(true)
	d.wake()
	d.wg.Wait()
	d.collect(res, wall0)
	if !ok {
		return res, ctx.Err()
	}
	return res, nil
}

// waitConnected waits until every connection is up, the connect window moving with the
// server's accepted sessions, within ConnectTimeout.
func (d *hbDriver) waitConnected(ctx context.Context) error {
	deadline := time.Now().Add(d.cfg.ConnectTimeout)
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	window := int64(d.cfg.ConnectWindow)
	if window <= 0 {
		window = hbConnectWindow
	}
	for {
		if err := d.err(); err != nil {
			return fmt.Errorf("connect %s: %w (%d of %d connections up)", d.cfg.Target, err, d.connected.Load(), d.cfg.Conns)
		}
		if d.connected.Load() == int64(d.cfg.Conns) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("connect %s: timed out after %v with %d of %d connections up", d.cfg.Target, d.cfg.ConnectTimeout, d.connected.Load(), d.cfg.Conns)
		}
		if d.cfg.ServerSessions != nil && d.begun.Load() < int64(d.cfg.Conns) {
			if n, err := d.cfg.ServerSessions(); err == nil && int64(n)+window > d.allowance.Load() {
				d.allowance.Store(int64(n) + window)
				d.wake()
			}
		}
	}
}

// drain waits, after the last heartbeat due before sendUntil was sent, for every reply in
// flight, while replies keep coming (at most Drain without one, drainCap in all).
func (d *hbDriver) drain(ctx context.Context) {
	start := time.Now()
	last, lastT := uint64(0), time.Now()
	for ctx.Err() == nil && time.Since(start) < drainCap && time.Since(lastT) < d.cfg.Drain {
		var sent, recv uint64
		caught := true
		for _, w := range d.workers {
			sent += w.sent.Load()
			recv += w.recv.Load()
			caught = caught && w.caughtUp.Load()
		}
		if caught && recv >= sent {
			return
		}
		if recv != last {
			last, lastT = recv, time.Now()
		}
		if d.err() != nil && caught {
			return // a connection died: what it owed never comes
		}
		time.Sleep(time.Millisecond)
	}
}

// collect sums the workers' accounts into res (the workers have ended).
func (d *hbDriver) collect(res *LoadResult, wall0 time.Time) {
	from, to := d.winFrom.Load(), d.winTo.Load()
	hb := &results.Heartbeats{PeriodNs: d.sched.period}
	if from != math.MaxInt64 && to != math.MaxInt64 {
		res.Window = time.Duration(to - from)
		for _, w := range d.workers {
			for i := range w.conns {
				hb.Due += d.sched.dueIn(int(w.conns[i].j), from, to)
			}
		}
	}
	v := &res.Verify
	for _, w := range d.workers {
		v.Sent += w.sent.Load()
		v.Received += w.recv.Load()
		v.Reordered += w.reordered
		v.Duplicated += w.dup
		v.Corrupt += w.corrupt
		res.Errors += w.errN
		hb.Sent += w.hbSent
		hb.Answered += w.answered
		hb.Late += w.late
		hb.LateSent += w.lateSent
		hb.MaxSendLagNs = max(hb.MaxSendLagNs, w.maxLag)
		res.Hist.Merge(w.hist)
	}
	if v.Sent > v.Received {
		v.Lost = v.Sent - v.Received
	}
	res.Msgs = hb.Answered
	res.Bytes = hb.Answered * uint64(d.cfg.Size)
	res.HB = hb
	if !wall0.IsZero() {
		res.Hist.SetStartTimeMs(wall0.UnixMilli())
		res.Hist.SetEndTimeMs(wall0.Add(res.Window).UnixMilli())
		// The slices of the window by due time (the HDR log's intervals, the steady-state test).
		n := int((res.Window + SliceInterval - 1) / SliceInterval)
		for i := range n {
			from := time.Duration(i) * SliceInterval
			h := newHist()
			h.SetStartTimeMs(wall0.Add(from).UnixMilli())
			h.SetEndTimeMs(wall0.Add(min(from+SliceInterval, res.Window)).UnixMilli())
			var msgs uint64
			for _, w := range d.workers {
				if i < len(w.slices) {
					msgs += w.slices[i].msgs
					if w.slices[i].hist != nil {
						h.Merge(w.slices[i].hist)
					}
				}
			}
			res.Intervals = append(res.Intervals, h)
			res.SliceMsgs = append(res.SliceMsgs, msgs)
		}
	}
	if p := d.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
}

// close closes every socket and the workers' descriptors (the workers have ended).
func (d *hbDriver) close() {
	d.quit.Store(true)
	d.wake()
	d.wg.Wait()
	for _, w := range d.workers {
		for i := range w.conns {
			if fd := w.conns[i].fd; fd >= 0 {
				unix.Close(int(fd))
				w.conns[i].fd = -1
			}
		}
		if w.epfd >= 0 {
			unix.Close(w.epfd)
		}
		if w.evfd >= 0 {
			unix.Close(w.evfd)
		}
	}
}

// hbMaxInFlight bounds one worker's connects in progress.
const hbMaxInFlight = 256

// run is the worker's loop: connect its share, then send due heartbeats and read replies
// until the driver quits.
func (w *hbWorker) run(srcs []netip.Addr) {
	d := w.d
	events := make([]unix.EpollEvent, 256)
	next, inFlight := 0, 0
	for !d.quit.Load() {
		// Connect: start what the in-flight bound and the connect window allow.
		for next < len(w.conns) && inFlight < hbMaxInFlight && d.begun.Load() < d.allowance.Load() {
			d.begun.Add(1)
			if err := w.dial(&w.conns[next], next, srcs); err != nil {
				d.fail("%v", err)
				w.errN++
				return
			}
			next++
			inFlight++
		}
		timeout := 10
		if d.started.Load() {
			timeout = w.sendDue()
		} else if next < len(w.conns) && inFlight < hbMaxInFlight {
			timeout = 1 // waiting for the connect window
		}
		n, err := unix.EpollWait(w.epfd, events, timeout)
		if err != nil && err != unix.EINTR {
			d.fail("epoll_wait: %v", err)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd < 0 {
				var b [8]byte
				unix.Read(w.evfd, b[:])
				continue
			}
			c := &w.conns[ev.Fd]
			if !c.up {
				inFlight--
				w.connected(c, int(ev.Fd))
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				w.flush(c, int(ev.Fd))
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
				w.read(c)
			}
		}
	}
}

// dial opens connection c (index i of the worker): a non-blocking socket bound to its source
// address (IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect for the whole 4-tuple) and
// connecting.
func (w *hbWorker) dial(c *hbConn, i int, srcs []netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w (RLIMIT_NOFILE reached?)", err)
	}
	c.fd = int32(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("TCP_NODELAY: %w", err)
	}
	if srcs != nil {
		a := srcs[c.src]
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return fmt.Errorf("IP_BIND_ADDRESS_NO_PORT: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: a.As4()}); err != nil {
			return fmt.Errorf("bind %v: %w", a, err)
		}
	}
	c.src = c.id
	target := w.d.target // a Sockaddr keeps its raw form inside: one per call, not shared
	if err := unix.Connect(fd, &target); err != nil && err != unix.EINPROGRESS {
		if err == unix.EADDRNOTAVAIL {
			return fmt.Errorf("connect %s: %w (the source address has no ephemeral port left)", w.d.cfg.Target, err)
		}
		return fmt.Errorf("connect %s: %w", w.d.cfg.Target, err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(i)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// connected completes c's connect (its socket became writable or failed).
func (w *hbWorker) connected(c *hbConn, i int) {
	fd := int(c.fd)
	if soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || soerr != 0 {
		if err == nil {
			err = unix.Errno(soerr)
		}
		w.errN++
		w.d.fail("connect %s: %v", w.d.cfg.Target, err)
		c.dead, c.up = true, true // up: no longer in flight; dead: never used
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		w.errN++
		w.d.fail("epoll_ctl: %v", err)
		c.dead, c.up = true, true
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		return
	}
	c.up = true
	w.d.connected.Add(1)
}

// sendDue sends every heartbeat due by now (and before sendUntil) in ring order and returns
// the epoll_wait timeout until the next one, ms.
func (w *hbWorker) sendDue() int {
	d := w.d
	if len(w.conns) == 0 {
		w.caughtUp.Store(true)
		return 100
	}
	until := d.sendUntil.Load()
	now := nowNs()
	for {
		c := &w.conns[w.cursor]
		due := d.sched.due(int(c.j), w.round)
		if due >= until {
			w.caughtUp.Store(true)
			return 10
		}
		if due > now {
			return int((due - now + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		}
		w.send(c, w.cursor, w.round, due, now)
		if w.cursor++; w.cursor == len(w.conns) {
			w.cursor, w.round = 0, w.round+1
		}
		now = nowNs()
	}
}

// send writes heartbeat seq of c, due at due, at now.
func (w *hbWorker) send(c *hbConn, i int, seq uint64, due, now int64) {
	if c.dead || !c.up {
		return
	}
	d := w.d
	if due >= d.winFrom.Load() && due < d.winTo.Load() {
		w.hbSent++
		lag := now - due
		w.maxLag = max(w.maxLag, lag)
		if lag > d.sched.period {
			w.lateSent++
		}
	}
	w.sent.Add(1)
	w.frame = proto.AppendFramed(w.frame[:0], proto.TypeHeartbeat, c.src, seq, d.cfg.Size)
	if len(c.out) > 0 { // a short write is pending: keep the order
		c.out = append(c.out, w.frame...)
		return
	}
	n, err := unix.Write(int(c.fd), w.frame)
	switch {
	case err == unix.EAGAIN:
		n = 0
	case err != nil:
		w.lose(c, fmt.Sprintf("write: %v", err))
		return
	}
	if n < len(w.frame) {
		c.out = append([]byte(nil), w.frame[n:]...)
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT, Fd: int32(i)}
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev)
	}
}

// flush writes c's pending bytes once its socket is writable again.
func (w *hbWorker) flush(c *hbConn, i int) {
	if len(c.out) == 0 || c.dead {
		return
	}
	n, err := unix.Write(int(c.fd), c.out)
	if err != nil && err != unix.EAGAIN {
		w.lose(c, fmt.Sprintf("write: %v", err))
		return
	}
	c.out = c.out[max(n, 0):]
	if len(c.out) == 0 {
		c.out = nil
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev)
	}
}

// lose ends c after an error: it stays in the ring but sends nothing more (its heartbeats are
// due all the same, so the shortfall shows).
func (w *hbWorker) lose(c *hbConn, why string) {
	if c.dead {
		return
	}
	c.dead = true
	w.errN++
	w.d.fail("connection %d: %s", c.src, why)
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
}

// read reads everything c has and verifies every complete reply.
func (w *hbWorker) read(c *hbConn) {
	for !c.dead {
		n, err := unix.Read(int(c.fd), w.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil {
			w.lose(c, fmt.Sprintf("read: %v", err))
			return
		}
		if n == 0 {
			w.lose(c, "closed by the server")
			return
		}
		data := w.buf[:n]
		if len(c.part) > 0 {
			data = append(c.part, data...)
		}
		off := w.replies(c, data)
		if c.dead {
			return
		}
		if rest := data[off:]; len(rest) > 0 {
			c.part = append([]byte(nil), rest...)
		} else {
			c.part = nil
		}
		if n < len(w.buf) {
			return
		}
	}
}

// replies verifies the complete replies at the front of data and returns the bytes they took.
func (w *hbWorker) replies(c *hbConn, data []byte) int {
	d := w.d
	off := 0
	for off < len(data) {
		rep, err := w.codec.Next(data[off:], c.nextRecv)
		if err == nil && rep.N > 0 && rep.Src != c.src {
			err = fmt.Errorf("reply from source %d", rep.Src)
		}
		if err != nil {
			w.corrupt++
			w.lose(c, err.Error())
			return len(data)
		}
		if rep.N == 0 {
			break
		}
		off += rep.N
		now := nowNs()
		w.recv.Add(1)
		switch {
		case rep.Seq == c.nextRecv:
		case rep.Seq < c.nextRecv:
			w.dup++
			d.fail("connection %d: duplicate heartbeat reply %d (expected %d)", c.src, rep.Seq, c.nextRecv)
			continue
		default:
			w.reordered++
			d.fail("connection %d: heartbeat reply %d out of order (expected %d)", c.src, rep.Seq, c.nextRecv)
		}
		c.nextRecv = rep.Seq + 1
		due := d.sched.due(int(c.j), rep.Seq)
		if due < d.winFrom.Load() || due >= d.winTo.Load() {
			continue
		}
		w.answered++
		lat := now - due
		if lat > d.sched.period {
			w.late++
		}
		w.hist.RecordValue(min(max(lat, 1), w.hist.HighestTrackableValue()))
		sl := &w.slices[min(int((due-d.winFrom.Load())/int64(SliceInterval)), len(w.slices)-1)]
		if sl.hist == nil {
			sl.hist = newHist()
		}
		sl.msgs++
		sl.hist.RecordValue(min(max(lat, 1), sl.hist.HighestTrackableValue()))
	}
	return off
}
