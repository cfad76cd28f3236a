package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The faults scenario (results.Faults): one steady open-loop load (steadyLoad) on
// CLIENT_AUTO_RECONNECT connections, its window in four quarters:
//
//  1. before: the steady load alone;
//  2. resets: Conns/4 extra raw connections (net.Dial, not the load's client backend) each
//     connect, write half a message, wait faultResetHold and close with SO_LINGER 0, so the
//     server sees an RST in the middle of a frame, over and over;
//  3. after: the steady load alone again;
//  4. kill: at its start the server is killed (SIGKILL) and restarted on the same port
//     (Server.Crash); the connections reconnect by themselves and go on with their sequence
//     numbers.
//
// The steady connections' p99 in the first three quarters is the resets' effect. The kill's
// recovery is from the kill's instant (recorded before the signal) to the first and the last
// connection whose session alive at the end came up. Every message never answered is
// classified (proto.ClassifyUnanswered): sent before the kill on a session it ended is in
// flight, sent after the kill before the end was seen is after-kill, anything else is lost and
// fails the repetition, as does a connection that did not come back, a steady connection that
// ended before the kill, a duplicate, a reordered or a corrupt reply.

// faultResetHold is how long a reset connection holds its half message before the RST.
const faultResetHold = 10 * time.Millisecond

// faultsPhases are the window's quarters.
func faultsPhases(d time.Duration) []time.Duration { return []time.Duration{d / 4, d / 2, 3 * d / 4} }

// measureFaults runs one repetition of the faults scenario on srv.
func (r *runner) measureFaults(ctx context.Context, srv Server, w Workload, index, round int) measured {
	m := measured{rep: results.Rep{Index: index, Round: round}}
	cfg := steadyConfig{Target: srv.Addr(), Proto: w.Proto, Conns: w.Conns, Size: w.Size, Rate: w.Rate,
		Warmup: w.Warmup, Duration: w.Duration, Phases: faultsPhases(w.Duration), ClientBackend: r.cfg.ClientBackend}
	if len(r.clientCPUs) > 0 {
		cfg.Loops = len(r.clientCPUs)
	}
	cfg.BeforeTraffic = func() error { return srv.WaitReady(w.Conns, 10*time.Second) }
	cfg.IdleTimeout = faultsIdleTimeout(w.Rate, w.Conns)
	var crash crasher = wholeCrash{srv}
	if c, ok := srv.(crasher); ok {
		crash = c
	}
	f, res, err := runFaults(ctx, cfg, max(w.Conns/4, 1), crash)
	if res != nil {
		m.rep.Figures = res.figures()
		m.rep.Figures.Note = faultsNote(f)
	}
	m.rep.Faults = f
	switch {
	case ctx.Err() != nil:
		return interruptedRep(m)
	case err != nil:
		m.rep.Error = err.Error()
		if m.rep.Verify == nil {
			m.rep.Verify = &results.Verify{}
		}
	}
	return m
}

// crasher kills a server and restarts it on the same address, in two steps (LocalServers'
// servers can).
type crasher interface {
	kill() error
	restart(ctx context.Context) error
}

// wholeCrash is a server that only has Crash: its kill is recorded as one instant, before it.
type wholeCrash struct{ Server }

func (w wholeCrash) kill() error                       { return nil }
func (w wholeCrash) restart(ctx context.Context) error { return w.Crash(ctx) }

// runFaults runs the faults load against cfg.Target with resetConns reset connections in the
// second quarter and crash (kill and restart the server) at the start of the last; crash nil
// skips the kill. It returns the account and an error for anything the rule above fails.
func runFaults(ctx context.Context, cfg steadyConfig, resetConns int, crash crasher) (*results.Faults, *steadyResult, error) {
	var (
		injected, failed atomic.Uint64
		restart          time.Duration
		crashErr         error
		killAt, reaped   int64
	)
	outer := ctx
	cfg.During = func(ctx context.Context, l *steadyLoad) {
		from := l.winFrom.Load()
		at := func(d time.Duration) bool { return sleepCtx(ctx, time.Duration(from+int64(d)-nowNs())) }
		q := cfg.Phases
		if !at(q[0]) {
			return
		}
		// The resets run on their own: a slow connect (under Wine) must not delay the kill.
		rctx, cancel := context.WithTimeout(ctx, q[1]-q[0])
		defer cancel()
		var resets sync.WaitGroup
		resets.Add(1)
		go func() {
			defer resets.Done()
			injectResets(rctx, cfg.Target, cfg.Proto, cfg.Size, resetConns, &injected, &failed)
		}()
		defer resets.Wait()
		if crash == nil || !at(q[2]) {
			return
		}
		killAt = l.BeginKill()
		t0 := time.Now()
		if crashErr = crash.kill(); crashErr == nil {
			crashErr = crash.restart(outer) // it may outlast the window: the drain waits for it
		}
		restart = time.Since(t0)
		// The new server listens (or the restart failed): the kill spans the signal to this
		// instant (steadyLoad.BeginKill).
		reaped = l.Reaped()
	}
	res, err := runSteady(ctx, cfg)
	if res == nil {
		return nil, nil, err
	}
	f := &results.Faults{Conns: cfg.Conns, SessionsEnded: res.Downs, InFlight: res.Unanswered.InFlight, AfterKill: res.Unanswered.AfterKill,
		Lost: res.Unanswered.Lost, Unsent: res.Unsent, RestartNs: int64(restart)}
	f.Resets = &results.Resets{Conns: resetConns, Injected: injected.Load(), Failed: failed.Load(),
		Before: phaseWindow(res.Phases[0]), During: phaseWindow(res.Phases[1]), After: phaseWindow(res.Phases[2])}
	var problems []string
	if reaped > 0 {
		f.KillAtNs = killAt - res.WindowFrom
		// A connection is back when its session alive at the end came up after the kill (any
		// session that came up after it and ended was on the dying server).
		back := 0
		var first, last int64
		for _, up := range res.LiveUps {
			if d := up - killAt; d > 0 {
				if back == 0 || d < first {
					first = d
				}
				last = max(last, d)
				back++
			}
		}
		f.Back = back
		if back > 0 {
			f.RecoveryNs = &results.Recovery{First: first, Last: last}
		}
		if back < cfg.Conns {
			problems = append(problems, fmt.Sprintf("only %d of %d connections came back after the kill", back, cfg.Conns))
		}
	} else if crash != nil && err == nil {
		problems = append(problems, "the kill did not happen")
	}
	if res.DownsBeforeKill > 0 {
		problems = append(problems, fmt.Sprintf("%d steady sessions ended with no kill", res.DownsBeforeKill))
	}
	if res.LiveAtEnd < cfg.Conns && err == nil {
		problems = append(problems, fmt.Sprintf("%d of %d connections had a session at the end", res.LiveAtEnd, cfg.Conns))
	}
	if crashErr != nil {
		problems = append(problems, crashErr.Error())
	}
	if !res.Verify.OK() {
		v := res.Verify
		problems = append(problems, fmt.Sprintf("verification failed: %d lost (beyond %d in flight at the kill and %d sent after it), %d corrupt, %d reordered, %d duplicated",
			v.Lost, f.InFlight, f.AfterKill, v.Corrupt, v.Reordered, v.Duplicated))
		if v.Lost > 0 {
			problems = append(problems, describeLost(res, killAt, reaped))
		}
	}
	if res.FirstError != "" && len(problems) > 0 {
		problems = append(problems, "first error: "+res.FirstError)
	}
	if err != nil {
		return f, res, err
	}
	if len(problems) > 0 {
		return f, res, errors.New(strings.Join(problems, "; "))
	}
	return f, res, nil
}

// describeLost places the sessions that lost messages against the kill span, times from the
// window's start: which session, when it was up, what it left and when it was sent.
func describeLost(res *steadyResult, killAt, reaped int64) string {
	ms := func(t int64) string { return fmt.Sprintf("%+.1fms", float64(t-res.WindowFrom)/1e6) }
	var b strings.Builder
	b.WriteString("lost on")
	n := 0
	for i, l := range res.Ledgers {
		var live []int64
		if i < len(res.Live) {
			live = res.Live[i]
		}
		for _, s := range l.LostSessions(res.Kills, live) {
			if n++; n > 4 {
				continue
			}
			end := "still up at the end"
			if !s.Open {
				end = "ended " + ms(s.Down)
			}
			fmt.Fprintf(&b, " connection %d (session up %s, %s: %d sent %s..%s);", i, ms(s.Up), end, len(s.Sent), ms(s.Sent[0]), ms(s.Sent[len(s.Sent)-1]))
		}
	}
	if n > 4 {
		fmt.Fprintf(&b, " and %d more sessions;", n-4)
	}
	if killAt > 0 {
		fmt.Fprintf(&b, " kill at %s, new server listening %s", ms(killAt), ms(reaped))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// injectResets runs n connections until ctx ends, each in a loop: connect to addr, write half
// of a message, hold it faultResetHold, close with SO_LINGER 0 (an RST mid-frame).
func injectResets(ctx context.Context, addr string, p proto.Name, size, n int, injected, failed *atomic.Uint64) {
	codec, err := proto.NewClient(p, size, 1<<30)
	if err != nil {
		return
	}
	half := codec.Append(nil, 0)
	half = half[:max(len(half)/2, 1)]
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: time.Second}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						sleepCtx(ctx, faultResetHold)
					}
					continue
				}
				c.Write(half)
				sleepCtx(ctx, faultResetHold)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				c.Close()
				injected.Add(1)
			}
		}()
	}
	wg.Wait()
}

// faultsIdleTimeout is the client sessions' idle timeout in the faults load: 20 of a
// connection's message intervals, at least 5 s (under Wine on a busy machine a healthy session
// can go 2 s without a reply). A healthy session hears back far more often;
// one the dead server left hanging ends (see steadyConfig.IdleTimeout) and reconnects, and its
// unanswered messages are classified against the kill it outlived.
func faultsIdleTimeout(rate float64, conns int) time.Duration {
	if !(rate > 0) {
		return 5 * time.Second
	}
	return max(5*time.Second, time.Duration(20*float64(conns)/rate*1e9))
}

// faultsNote says what the figures of a faults repetition are.
func faultsNote(f *results.Faults) string {
	if f == nil {
		return ""
	}
	s := "faults: steady open loop in quarters (before, client resets, after, server kill + restart); msgs/s and latency over the whole window"
	if f.RecoveryNs != nil {
		s += fmt.Sprintf("; back %d/%d after %v..%v, %d in flight at the kill and %d sent after it (not lost), %d unsent while down",
			f.Back, f.Conns, time.Duration(f.RecoveryNs.First), time.Duration(f.RecoveryNs.Last), f.InFlight, f.AfterKill, f.Unsent)
	}
	if rs := f.Resets; rs != nil {
		s += fmt.Sprintf("; %d resets from %d connections, p99 before/during/after %s/%s/%s", rs.Injected, rs.Conns,
			fmtWindow(rs.Before), fmtWindow(rs.During), fmtWindow(rs.After))
	}
	return s
}

func fmtWindow(w *results.Window) string {
	if w == nil || w.P99Ns == nil {
		return "n/a"
	}
	return time.Duration(*w.P99Ns).Round(time.Microsecond).String()
}
