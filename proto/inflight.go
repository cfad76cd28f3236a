package proto

import (
	"slices"
	"time"
)

// When the server is killed in the middle of a load (the faults scenario), the messages it had
// received or was about to receive die with it: they are neither lost by the I/O model nor
// duplicated, and must be counted apart. The rule, for one session of a load generator
// connection that was up at a kill and ended after it:
//
//   - a message sent before the kill instant and never answered was in flight at the kill;
//   - a message sent after the kill but before the client saw the session end went to a dead
//     server (the client could not know yet): counted apart as well (AfterKill);
//   - every other unanswered message is lost: on a session no kill ended (it ended before any
//     kill, or was still up after the drain), or sent after reconnecting.
//
// Nothing is resent after a reconnect, so no message can be answered twice.
//
// Times are nanoseconds on one monotonic clock (the load generator's); the harness records a
// kill's instant before it sends the signal, so a kill always precedes the disconnects it
// causes. The clock may be coarse: under Wine, Go's monotonic clock moves in steps (199 951 of
// 200 000 consecutive reads of a Windows build returned the same instant). A message stamped in the same step as its session's end was
// still sent on that session (the load generator stamps both under the connection's lock,
// the send first): a session is [up, down], closed at both ends.

// Unanswered classifies the messages that never got a reply.
type Unanswered struct {
	InFlight  uint64 // sent before a kill on a session that kill ended
	AfterKill uint64 // sent on such a session after the kill, before it was seen to end
	Lost      uint64 // every other unanswered message
}

// Add returns u + v.
func (u Unanswered) Add(v Unanswered) Unanswered {
	return Unanswered{InFlight: u.InFlight + v.InFlight, AfterKill: u.AfterKill + v.AfterKill, Lost: u.Lost + v.Lost}
}

// ClassifyUnanswered classifies the messages a session that was up during [up, down) left
// unanswered (sent: their send times) against the kill instants (any order). The kill that
// ended the session is the first one in [up, down]; without one every message is lost.
func ClassifyUnanswered(up, down int64, sent, kills []int64) Unanswered {
	var u Unanswered
	k, ok := killDuring(up, down, kills)
	for _, t := range sent {
		switch {
		case lostAt(t, up, down, ok):
			u.Lost++
		case t < k:
			u.InFlight++
		default:
			u.AfterKill++
		}
	}
	return u
}

// lostAt reports whether a message sent at t on the session [up, down] is lost: no kill ended
// the session (killed false), or it was not sent while the session was up.
func lostAt(t, up, down int64, killed bool) bool { return !killed || t < up || t > down }

func killDuring(up, down int64, kills []int64) (int64, bool) {
	k, ok := int64(0), false
	for _, x := range kills {
		if x >= up && x <= down && (!ok || x < k) {
			k, ok = x, true
		}
	}
	return k, ok
}

// Ledger keeps, for one load generator connection across its reconnects, when each session
// came up and what it left unanswered when it ended, so that the end of the run can classify
// them against the kills (Tally) and say when the connection came back (FirstUpAfter). Not
// safe for concurrent use: the caller serialises it with the connection's own state. It holds
// the unanswered send times of ended sessions only (a session's messages in flight).
type Ledger struct {
	ups   []int64
	ended []endedSession
	open  bool // a session is up (the last Up has no Down yet)
}

type endedSession struct {
	up, down int64
	sent     []int64
}

// Up records a session coming up at t.
func (l *Ledger) Up(t int64) {
	l.ups = append(l.ups, t)
	l.open = true
}

// Down records the session that came up last ending at t, with the send times of its messages
// never answered (copied).
func (l *Ledger) Down(t int64, unanswered []int64) {
	up := l.openUp()
	l.open = false
	if len(unanswered) > 0 {
		l.ended = append(l.ended, endedSession{up: up, down: t, sent: slices.Clone(unanswered)})
	}
}

// openUp is when the session that is up came up (0 when none is, or its Up was not recorded).
func (l *Ledger) openUp() int64 {
	if n := len(l.ups); n > 0 && l.open {
		return l.ups[n-1]
	}
	return 0
}

// Tally classifies everything this connection left unanswered: the ended sessions' messages
// against kills, plus live, the send times still unanswered on a session up after the drain
// (always lost: no kill ended it).
func (l *Ledger) Tally(kills []int64, live []int64) Unanswered {
	u := Unanswered{Lost: uint64(len(live))}
	for _, e := range l.ended {
		u = u.Add(ClassifyUnanswered(e.up, e.down, e.sent, kills))
	}
	return u
}

// LostSession is a session that left messages lost under the kill rule: when it came up and
// ended (Open: still up after the drain, Down 0) and the send times of those messages.
type LostSession struct {
	Up, Down int64
	Open     bool
	Sent     []int64
}

// LostSessions lists the sessions whose unanswered messages Tally counts lost, with the same
// arguments: what a failed faults run reports, so that a loss can be placed against the kill.
func (l *Ledger) LostSessions(kills []int64, live []int64) []LostSession {
	var out []LostSession
	for _, e := range l.ended {
		_, ok := killDuring(e.up, e.down, kills)
		var lost []int64
		for _, t := range e.sent {
			if lostAt(t, e.up, e.down, ok) {
				lost = append(lost, t)
			}
		}
		if len(lost) > 0 {
			out = append(out, LostSession{Up: e.up, Down: e.down, Sent: lost})
		}
	}
	if len(live) > 0 {
		out = append(out, LostSession{Up: l.openUp(), Open: true, Sent: slices.Clone(live)})
	}
	return out
}

// FirstUpAfter is the first instant a session of this connection came up at or after t.
func (l *Ledger) FirstUpAfter(t int64) (int64, bool) {
	i, _ := slices.BinarySearch(l.ups, t) // Up times only grow
	if i == len(l.ups) {
		return 0, false
	}
	return l.ups[i], true
}

// Recovery is how long after a kill at t the connections came back: first and last are the
// delays until the first and the last of them had a session up again, back how many did (of
// len(ls)). With none back, first and last are 0.
func Recovery(t int64, ls []*Ledger) (first, last time.Duration, back int) {
	for _, l := range ls {
		u, ok := l.FirstUpAfter(t)
		if !ok {
			continue
		}
		d := time.Duration(u - t)
		if back == 0 || d < first {
			first = d
		}
		if d > last {
			last = d
		}
		back++
	}
	return first, last, back
}
