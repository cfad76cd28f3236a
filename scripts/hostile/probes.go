package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// Bounds of the checks (outcomes, not speed: a failing server misses them by far).
const (
	idleWindow = time.Second      // the no-spin measurement
	idleBudget = idleWindow / 4   // a spinning goroutine uses the whole core
	settle     = 10 * time.Second // sessions to end, fds to close, kicks to land
	ioWait     = 10 * time.Second // one client read or write
)

type result struct {
	probe   string
	took    time.Duration
	idleCPU time.Duration
	fds     int
	err     error
}

// probe attacks s; the check after it is common to all probes.
type probe struct {
	name string
	run  func(s *server, app app) error
}

// config is one server configuration and the probes run against it.
type config struct {
	name   string
	app    app
	nofile int // ulimit -n for the server, 0 for none
	args   []string
	probes []probe
}

func configs() []config {
	return []config{
		{name: "framed", app: framedApp, args: []string{"--pool", "4", "--send-queue", "262144"}, probes: []probe{
			{"garbage", probeGarbage},
			{"oversize_frame", probeOversize(1 << 30)},
			{"truncated_then_close", probeTruncated(false)},
			{"truncated_then_reset", probeTruncated(true)},
			{"pool_exhaustion", probePoolExhaustion},
			{"slow_consumer", probeSlowConsumer},
			{"reset_storm", probeResetStorm},
		}},
		{name: "sockperf", app: sockperfApp, probes: []probe{
			{"truncated_then_close", probeTruncated(false)},
			{"truncated_then_reset", probeTruncated(true)},
		}},
		{name: "broadcast", app: broadcastApp, probes: []probe{
			{"truncated_then_close", probeTruncated(false)},
			{"truncated_then_reset", probeTruncated(true)},
		}},
		{name: "hardened", app: framedApp, args: []string{"--hardened", "--idle-timeout", "1s"}, probes: []probe{
			{"silent_connections", probeSilent},
			{"slowloris", probeSlowloris},
			{"over_hardened_max_frame", probeOversize(20000)},
		}},
		{name: "emfile", app: framedApp, nofile: 256, probes: []probe{
			{"connection_storm_ulimit_256", probeEMFILE},
		}},
	}
}

// attack runs every configuration's probes against backend, one server per configuration.
func attack(ctx context.Context, bin, backend string, match *regexp.Regexp, report func(result)) {
	for _, c := range configs() {
		c.probes = slices.DeleteFunc(c.probes, func(p probe) bool { return !match.MatchString(c.name + "/" + p.name) })
		if len(c.probes) == 0 {
			continue
		}
		if ctx.Err() != nil {
			report(result{probe: c.name, err: ctx.Err()})
			return
		}
		name := backend + "/" + c.name
		s, err := startServer(name, bin, c.nofile, append([]string{"--backend", backend, "--proto", c.app.name}, c.args...)...)
		if err != nil {
			report(result{probe: c.name + "/start", err: err})
			continue
		}
		if err := s.warmUp(c.app); err != nil {
			report(result{probe: c.name + "/warm_up", err: err})
			s.kill()
			continue
		}
		broken := false
		for _, p := range c.probes {
			if broken || ctx.Err() != nil {
				break
			}
			t0 := time.Now()
			r := result{probe: c.name + "/" + p.name}
			if r.err = p.run(s, c.app); r.err == nil {
				r.idleCPU, r.fds, r.err = s.check(c.app)
			}
			r.took = time.Since(t0)
			report(r)
			broken = r.err != nil && s.alive() != nil
		}
		if err := s.stop(); err != nil {
			report(result{probe: c.name + "/stop", err: err})
		}
	}
}

// warmUp serves one client, so what a first connection opens lazily is in the fd baseline.
func (s *server) warmUp(a app) error {
	if err := a.exchange(s.addr, 1); err != nil {
		return err
	}
	if _, err := s.waitStats("the warm-up session to end", settle, live0); err != nil {
		return err
	}
	n, err := s.fds()
	s.base = n
	return err
}

func live0(st harness.ServerStats) bool { return st.Service.Live == 0 }

// check is what every probe must leave behind: a live server whose sessions ended, whose fds
// are back to the baseline, that uses no CPU with nothing to do, and that serves a new client.
func (s *server) check(a app) (idle time.Duration, fds int, err error) {
	if err := s.alive(); err != nil {
		return 0, 0, err
	}
	if _, err := s.waitStats("sessions to end (Live 0): leaked sessions or pool slots", settle, live0); err != nil {
		return 0, 0, err
	}
	deadline := time.Now().Add(settle)
	for {
		if fds, err = s.fds(); err != nil {
			return 0, 0, err
		}
		if fds <= s.base {
			break
		}
		if time.Now().After(deadline) {
			return 0, fds, fmt.Errorf("%d open fds %v after the probe, %d before: leaked fds", fds, settle, s.base)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c0, err := s.cpu()
	if err != nil {
		return 0, fds, err
	}
	time.Sleep(idleWindow)
	c1, err := s.cpu()
	if err != nil {
		return 0, fds, err
	}
	if idle = c1 - c0; idle > idleBudget {
		return idle, fds, fmt.Errorf("the server used %v of CPU in %v with nothing to do (budget %v): it spins", idle, idleWindow, idleBudget)
	}
	if err := a.exchange(s.addr, 2); err != nil {
		return idle, fds, fmt.Errorf("a new valid client is not served after the probe: %w", err)
	}
	// Its session ends before the next probe counts the pool's slots.
	_, err = s.waitStats("the valid client's session to end", settle, live0)
	return idle, fds, err
}

// app is the wire of one server app: a valid request and the check of its reply.
type app struct {
	name   string
	header int
	client func() proto.Client
}

var (
	framedApp = app{"framed", proto.FramedHeaderSize, func() proto.Client {
		c, _ := proto.NewClient(proto.Framed, 64, 9)
		return c
	}}
	sockperfApp = app{"sockperf", proto.SockperfHeaderSize, func() proto.Client {
		c, _ := proto.NewClient(proto.Sockperf, 64, 9)
		return c
	}}
	broadcastApp = app{"broadcast", proto.FramedHeaderSize, func() proto.Client {
		c, _ := proto.NewBroadcastClient(64, 9)
		return c
	}}
)

func dial(addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(ioWait))
	return c.(*net.TCPConn), nil
}

// exchange connects, sends one valid message of seq and verifies the reply (a broadcast
// comes back to its sender, who is alone in a fresh room or gets its own frame among others).
func (a app) exchange(addr string, seq uint64) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	cl := a.client()
	if _, err := c.Write(cl.Append(nil, seq)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		r, err := cl.Next(buf, seq)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		if r.N > 0 {
			if r.Seq == seq && (a.name != "broadcast" || r.Src == 9) {
				return nil
			}
			buf = buf[r.N:]
			continue
		}
		n, err := c.Read(tmp)
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		buf = append(buf, tmp[:n]...)
	}
}

// partial returns n bytes of a valid request: a frame the server must wait for.
func (a app) partial(n int) []byte {
	return a.client().Append(nil, 3)[:n]
}

// expectClosed reads c until the server closes it (EOF or reset).
func expectClosed(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(ioWait))
	buf := make([]byte, 32<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("the server did not close the connection within %v", ioWait)
			}
			return nil
		}
	}
}

// kicksGrow waits until the named kick counters grew by n since before.
func (s *server) kicksGrow(before harness.ServerStats, n uint64, reasons ...models.KickReason) error {
	sum := func(st harness.ServerStats) (t uint64) {
		for _, r := range reasons {
			t += st.Service.Kicks[r]
		}
		return t
	}
	_, err := s.waitStats(fmt.Sprintf("%d kick(s) %v", n, reasons), settle, func(st harness.ServerStats) bool {
		return sum(st) >= sum(before)+n
	})
	return err
}

// open takes the stats before a probe and connects the probe's client.
func (s *server) open() (harness.ServerStats, *net.TCPConn, error) {
	before, err := s.stats()
	if err != nil {
		return before, nil, err
	}
	c, err := dial(s.addr)
	return before, c, err
}

func probeGarbage(s *server, _ app) error {
	before, c, err := s.open()
	if err != nil {
		return err
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: iobench\r\n\r\n\x00\x00\x00\x05garbage"))
	if err := expectClosed(c); err != nil {
		return err
	}
	return s.kicksGrow(before, 1, models.KickPacketError, models.KickRecvBufferOverFull)
}

// probeOversize sends a frame header declaring size bytes, then a little of it.
func probeOversize(size int) func(*server, app) error {
	return func(s *server, a app) error {
		before, c, err := s.open()
		if err != nil {
			return err
		}
		defer c.Close()
		m := a.client().Append(nil, 4)
		binary.BigEndian.PutUint32(m, uint32(size)) // framed: the length leads the header
		c.Write(m)
		if err := expectClosed(c); err != nil {
			return err
		}
		return s.kicksGrow(before, 1, models.KickRecvBufferOverFull)
	}
}

// partialClients connects one client per size, each sending that many bytes of a frame;
// closeAll closes them (again: closing twice is harmless).
func (s *server) partialClients(a app, sizes ...int) (conns []*net.TCPConn, closeAll func(), err error) {
	closeAll = func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for _, n := range sizes {
		c, err := dial(s.addr)
		if err != nil {
			return conns, closeAll, err
		}
		conns = append(conns, c)
		if _, err := c.Write(a.partial(n)); err != nil {
			return conns, closeAll, err
		}
	}
	return conns, closeAll, nil
}

// probeTruncated: four clients send part of a frame (2 bytes of the header; the header and
// some payload), wait until the server has read it, and close (reset: SO_LINGER 0).
func probeTruncated(reset bool) func(*server, app) error {
	return func(s *server, a app) error {
		before, err := s.stats()
		if err != nil {
			return err
		}
		sizes := []int{2, a.header + 10, 2, a.header + 10}
		conns, closeAll, err := s.partialClients(a, sizes...)
		defer closeAll()
		if err != nil {
			return err
		}
		want := before.Service.BytesRecv + uint64(2*(2+a.header+10))
		if _, err := s.waitStats("the server to read the partial frames", settle, func(st harness.ServerStats) bool {
			return st.Service.BytesRecv >= want
		}); err != nil {
			return err
		}
		for _, c := range conns {
			if reset {
				c.SetLinger(0)
			}
			c.Close()
		}
		_, err = s.waitStats("4 sessions to end after their peers left mid-frame", settle, func(st harness.ServerStats) bool {
			return st.Service.Disconnects >= before.Service.Disconnects+uint64(len(sizes))
		})
		return err
	}
}

// probePoolExhaustion (--pool 4): four clients hold the pool with partial frames, a fifth is
// refused; then the four close mid-frame, and the check's new client must get a slot.
func probePoolExhaustion(s *server, a app) error {
	before, err := s.stats()
	if err != nil {
		return err
	}
	n := a.header + 10
	_, closeAll, err := s.partialClients(a, n, n, n, n)
	defer closeAll()
	if err != nil {
		return err
	}
	if _, err := s.waitStats("4 sessions holding the pool", settle, func(st harness.ServerStats) bool { return st.Service.Live == 4 }); err != nil {
		return err
	}
	fifth, err := dial(s.addr)
	if err != nil {
		return err
	}
	defer fifth.Close()
	if err := expectClosed(fifth); err != nil {
		return fmt.Errorf("a fifth connection to a full pool of 4: %w", err)
	}
	if _, err := s.waitStats("the fifth connection counted as refused", settle, func(st harness.ServerStats) bool {
		return st.Service.Refused > before.Service.Refused
	}); err != nil {
		return err
	}
	closeAll()
	return nil
}

// probeSlowConsumer: a client sends frames and never reads its replies; the server must kick
// it at its send-queue bound (--send-queue 256 KiB) rather than buffer without end.
func probeSlowConsumer(s *server, a app) error {
	before, c, err := s.open()
	if err != nil {
		return err
	}
	defer c.Close()
	// No SetReadBuffer here: shrinking the receive buffer below the window already advertised
	// makes the kernel drop segments that carry the server's ACKs, and both ends back off
	// (seen: a 26 s RTO), which stalls the flood before the server's queue fills.
	cl := a.client()
	var batch []byte
	for i := range 1024 {
		batch = cl.Append(batch, uint64(i))
	}
	c.SetWriteDeadline(time.Now().Add(2 * settle))
	for sent := 0; sent < 512<<20; sent += len(batch) {
		if _, err := c.Write(batch); err != nil {
			break // kicked: the write fails once the server has closed
		}
	}
	return s.kicksGrow(before, 1, models.KickSendQueueFull)
}

// probeResetStorm: 300 connections, 16 at a time, each sending part of a frame and resetting.
func probeResetStorm(s *server, a app) error {
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 300 {
				c, err := dial(s.addr)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				c.Write(a.partial(a.header + 5))
				c.SetLinger(0)
				c.Close()
			}
		}()
	}
	wg.Wait()
	if n := dialErrs.Load(); n > 30 {
		return fmt.Errorf("%d of 300 connects failed during the storm", n)
	}
	return nil
}

// probeSilent (--idle-timeout 1s): three connections that never send are kicked with
// idle_timeout and see the close.
func probeSilent(s *server, _ app) error {
	before, err := s.stats()
	if err != nil {
		return err
	}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		c, err := dial(s.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := expectClosed(c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.kicksGrow(before, 3, models.KickIdleTimeout)
}

// probeSlowloris (--idle-timeout 1s): a client trickling a frame a byte every 200 ms never
// completes it and is kicked with idle_timeout.
func probeSlowloris(s *server, a app) error {
	before, c, err := s.open()
	if err != nil {
		return err
	}
	defer c.Close()
	m := a.partial(a.header + 40)
	done := make(chan error, 1)
	go func() { done <- expectClosed(c) }()
	for i := 0; i < len(m); i++ {
		if _, err := c.Write(m[i : i+1]); err != nil {
			break
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			return s.kicksGrow(before, 1, models.KickIdleTimeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("a slowloris trickled a whole frame's header and payload without being kicked")
}

// probeEMFILE (ulimit -n 256): 1000 connections arrive and stay; the server runs out of fds
// on accept, counts it (AcceptErrors) and, once they leave, serves again (the check).
func probeEMFILE(s *server, _ app) error {
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	var next, refused atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 1000 {
				c, err := net.DialTimeout("tcp", s.addr, 3*time.Second)
				if err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) {
						refused.Add(1)
					}
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		return fmt.Errorf("%d connects refused during the storm: the server closed its listener on EMFILE", n)
	}
	_, err := s.waitStats("a failed accept counted (AcceptErrors > 0) with 1000 connections under ulimit -n 256", settle,
		func(st harness.ServerStats) bool { return st.Service.AcceptErrors > 0 })
	return err
}
