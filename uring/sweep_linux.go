package uring

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// The dead-socket sweep. On this machine's kernel (6.18) a multishot recv armed on a
// connection that its peer then resets can miss the reset: about 1 in 50 runs of
// scripts/hostile's reset storm (16 clients opening 300 connections that write part of a
// frame and reset, against a pool of 4) left one session whose socket was in TCP_CLOSE with
// ECONNRESET pending while its recv never completed, not even after the loop was woken (the
// same with cooperative task running instead of deferred, 1 in 240). The session, its pool
// slot and its fd then leak for the life of the server. So every loop keeps one
// IORING_OP_TIMEOUT of sweepEvery in flight; when it fires, each session of the loop whose
// recv has not completed since the previous sweep is a candidate, and candidates are checked
// (getsockopt TCP_INFO) after 1, 2, 4 ... 64 quiet sweeps, then every 64: a socket already
// closed (TCP_CLOSE) is kicked with KickRecvError, whose cancel ends the stuck recv. A busy
// session is never checked; an idle one costs one getsockopt per minute or so; the timer is
// one completion a second per loop.
const (
	sweepEvery    = time.Second
	sweepMaxQuiet = 64
)

// sweepTS is where in the loop's mmapped scratch page the sweep timer's __kernel_timespec
// lives (the eventfd read uses the first 8 bytes): kernel-read memory outside the Go heap.
const sweepTS = 64

// armSweep keeps the sweep timer in flight.
func (l *loop) armSweep() {
	ts := (*unix.Timespec)(unsafe.Pointer(&l.scratch[sweepTS]))
	ts.Sec, ts.Nsec = int64(sweepEvery/time.Second), int64(sweepEvery%time.Second)
	idx, _ := l.newOp(opSweep)
	s := l.sqe()
	s.opcode = opcTimeout
	s.fd = -1
	s.addr = uint64(uintptr(unsafe.Pointer(ts)))
	s.len = 1
	s.userData = userData(opSweep, l.ops[idx].gen, idx)
}

// onSweep is the timer's completion: sweep, then re-arm unless the loop is stopping.
func (l *loop) onSweep(idx uint32) {
	l.freeOp(idx)
	if l.stopping {
		return
	}
	l.sweep()
	l.armSweep()
}

// sweep checks the quiet sessions of this loop (see above).
func (l *loop) sweep() {
	for _, ss := range l.sessions {
		if !ss.active || ss.closing || ss.Kicked() || ss.pending == 0 {
			continue
		}
		if ss.recvSeen {
			ss.recvSeen, ss.quiet = false, 0
			continue
		}
		ss.quiet++
		if ss.quiet == 2*sweepMaxQuiet {
			ss.quiet = sweepMaxQuiet // then every 64 sweeps
		}
		if !checkDue(ss.quiet) {
			continue
		}
		ti, err := unix.GetsockoptTCPInfo(ss.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && ti.State == tcpClose {
			l.deadSockets.Add(1)
			ss.Kick(models.KickRecvError)
		}
	}
}

// checkDue reports whether a session quiet for q sweeps is checked now: after 1, 2, 4 ... 64
// quiet sweeps, then every 64.
func checkDue(q int) bool {
	if q <= sweepMaxQuiet {
		return q&(q-1) == 0
	}
	return q%sweepMaxQuiet == 0
}

// tcpClose is TCP_CLOSE of include/net/tcp_states.h.
const tcpClose = 7

// addSession and removeSession keep the loop's list of open sessions (for the sweep).
func (l *loop) addSession(ss *session) {
	ss.loopIdx = len(l.sessions)
	l.sessions = append(l.sessions, ss)
	ss.recvSeen, ss.quiet = false, 0
}

func (l *loop) removeSession(ss *session) {
	i := ss.loopIdx
	if i < 0 || i >= len(l.sessions) || l.sessions[i] != ss {
		return
	}
	last := len(l.sessions) - 1
	l.sessions[i] = l.sessions[last]
	l.sessions[i].loopIdx = i
	l.sessions[last] = nil
	l.sessions = l.sessions[:last]
	ss.loopIdx = -1
}
