package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The scale suite (`iobench run --suite scale`): the idle scenario at growing connection
// counts, up to as many as this machine allows. Every connection is idle and sends one framed
// heartbeat a second (the heartbeat driver, heartbeat.go); per count it measures the time to
// connect everyone (accept rate), the server's RSS per connection (total and above the empty
// server, probed before connecting), the kernel's TCP socket memory (/proc/net/sockstat,
// beside the RSS, never in it) and the heartbeats' latency and delivery (due, sent, answered,
// late).
//
// The harness raises RLIMIT_NOFILE as far as it may (its children inherit it), computes the
// ceiling (the server process and the load process each need conns + scaleFDMargin fds) and
// states it. A count above the ceiling stops with one line naming the limit: a count of the
// suite's own list is recorded as skipped with that reason (the rest of the suite runs), and
// a count asked for with --conns is refused before anything runs (exit 2), since the user
// asked for exactly that number.

// DefaultScaleConns are the scale suite's connection counts (--conns replaces them).
var DefaultScaleConns = []int{1000, 4000, 16000, 100000}

// scaleFDMargin is the fds a server or load process needs besides its connections: the
// listener, epoll/io_uring instances and event fds of its loops, the control pipes, perf,
// the runtime's own.
const scaleFDMargin = 128

// scaleWorkload is the scale suite's idle workload at conns connections.
func scaleWorkload(conns int) Workload {
	return Workload{Scenario: results.ScenarioIdle, App: "framed", Proto: proto.Framed, Conns: conns,
		Idle: conns, Size: 64, Scale: true, Warmup: 2 * time.Second, Duration: 5 * time.Second}
}

func scaleWorkloads(counts []int) []Workload {
	var out []Workload
	for _, n := range counts {
		out = append(out, scaleWorkload(n))
	}
	return out
}

// parseConns reads --conns: comma-separated positive connection counts.
func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--conns: %q is not a positive connection count", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("--conns: no connection count")
	}
	return out, nil
}

// fdLimits is what bounds the connections of one process here.
type fdLimits struct {
	Soft, Hard, Before uint64 // RLIMIT_NOFILE after raising it; the soft limit before
	Open               int    // fds this process has open
	FileFree           uint64 // files the whole system may still open (fs.file-max)
	FileFreeOK         bool
	Err                error // the limit could not be read or raised
}

// scaleCeiling is the most connections one process may hold under l, and what sets it:
// the server and the load process each need conns + scaleFDMargin fds (the load process also
// keeps what it has open), and the system the two processes' fds together.
func scaleCeiling(l fdLimits) (ceiling int, limit string) {
	if l.Err != nil || l.Soft == 0 {
		return 0, "RLIMIT_NOFILE unknown"
	}
	ceiling = int(min(l.Soft, 1<<40)) - scaleFDMargin - l.Open
	limit = fmt.Sprintf("RLIMIT_NOFILE hard %d", l.Hard)
	if l.Soft < l.Hard {
		limit = fmt.Sprintf("RLIMIT_NOFILE soft %d, hard %d", l.Soft, l.Hard)
	}
	if l.FileFreeOK {
		if sys := int(min(l.FileFree, 1<<40))/2 - scaleFDMargin - l.Open; sys < ceiling {
			ceiling, limit = sys, fmt.Sprintf("fs.file-max: %d files free for the server and the load together", l.FileFree)
		}
	}
	return max(ceiling, 0), limit
}

// groupDigits writes n with a space every three digits (19 872), as the report does.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// aboveCeiling is the one line for a count above the ceiling.
func aboveCeiling(w Workload, ceiling int, limit string) string {
	return fmt.Sprintf("%s conns=%d: above this machine's limit of %s connections per process (%s)",
		w.Scenario, w.Conns, groupDigits(ceiling), limit)
}

// scaleRun is the scale suite's preparation of one run: the limits and the ceiling.
type scaleRun struct {
	limits  fdLimits
	ceiling int
	limit   string
}

// prepareScale raises the open-file limit, states the ceiling on stderr and checks the
// scale workloads of c against it: a count asked for explicitly (explicit) above the ceiling
// refuses the run with the one line; one of the suite's own list is marked skipped with it.
func prepareScale(c *RunConfig, explicit bool, stderr io.Writer) (*scaleRun, error) {
	var l fdLimits
	l.Soft, l.Hard, l.Before, l.Err = raiseNofile()
	l.Open = openFDs()
	l.FileFree, l.FileFreeOK = fileMaxFree()
	s := &scaleRun{limits: l}
	s.ceiling, s.limit = scaleCeiling(l)
	if l.Err != nil {
		fmt.Fprintf(stderr, "scale: open-file limit unknown (%v): every count is attempted\n", l.Err)
		return s, nil
	}
	raised := ""
	if l.Before < l.Soft {
		raised = fmt.Sprintf(", raised from %d", l.Before)
	}
	fmt.Fprintf(stderr, "scale: RLIMIT_NOFILE soft %d hard %d%s; ceiling %s connections per process (the server and the load process each need conns + %d fds; %s)\n",
		l.Soft, l.Hard, raised, groupDigits(s.ceiling), scaleFDMargin, s.limit)
	var over []string
	c.Workloads = append([]Workload(nil), c.Workloads...) // not the suite's own list
	for i := range c.Workloads {
		w := &c.Workloads[i]
		if !w.Scale || w.Conns <= s.ceiling {
			continue
		}
		line := aboveCeiling(*w, s.ceiling, s.limit)
		over = append(over, line)
		w.Skip = line
	}
	if explicit && len(over) > 0 {
		return nil, cli.Usagef("%s", strings.Join(over, "; "))
	}
	for _, line := range over {
		fmt.Fprintf(stderr, "%s: skipped\n", line)
	}
	return s, nil
}

// scaleConnectTimeout bounds connecting conns connections (and the server seeing them).
func scaleConnectTimeout(conns int) time.Duration {
	return DefaultConnectTimeout + time.Duration(conns)*time.Millisecond
}

// sessionCounter is a Server that can report its app's sessions (the local servers can): the
// heartbeat driver keeps its connects a window ahead of them.
type sessionCounter interface {
	Sessions() (int, error)
}

// Sessions reports the server app's sessions through OnConnect (ServerStats.Ready).
func (s *localServer) Sessions() (int, error) {
	p := s.proc()
	if p == nil {
		return 0, errors.New("server down")
	}
	st, err := p.stats()
	return int(st.Ready), err
}

// measureScale runs one repetition of a scale workload on srv (fresh: srv served nothing
// before, so its RSS before connecting is the empty server's).
func (r *runner) measureScale(ctx context.Context, srv Server, l label, w Workload, index, round int, fresh bool) measured {
	m := measured{rep: results.Rep{Index: index, Round: round}}
	fail := func(err error) measured {
		if ctx.Err() != nil {
			return interruptedRep(m)
		}
		m.rep.Error = err.Error()
		if m.rep.Verify == nil {
			m.rep.Verify = &results.Verify{}
		}
		return m
	}
	srv.PrepareWindow(perfUsable() == nil)
	ss0 := readSockstat()
	var ss1 sockstat
	timeout := scaleConnectTimeout(w.Conns)
	lc := LoadConfig{Target: srv.Addr(), Proto: proto.Framed, Conns: w.Conns, IdleConns: w.Conns, Size: w.Size,
		Heartbeat: time.Second, Warmup: w.Warmup, Duration: w.Duration, IdleDriver: true, ConnectTimeout: timeout,
		Loops: len(r.clientCPUs)}
	if sc, ok := srv.(sessionCounter); ok {
		lc.ServerSessions = sc.Sessions
	}
	lc.BeforeTraffic = func() error { return srv.WaitReady(w.Conns, timeout) }
	lc.BeforeWindow = srv.BeginWindow
	lc.AfterWindow = func() { srv.EndWindow(); ss1 = readSockstat() }
	if lc.Duration >= 5*time.Second {
		fmt.Fprintf(r.stderr, "  %s %s: connecting %d, then %v of warm-up and a %v window\n", l.Name, w.Name(), w.Conns, w.Warmup, w.Duration)
	}
	res, err := r.loads.Load(ctx, lc)
	probes := srv.Window()
	if res == nil {
		return fail(err)
	}
	m.rep.Figures = res.Figures()
	f := &m.rep.Figures
	if hp, herr := r.writeHDR(l, w, cell{}, index, res); herr == nil {
		m.rep.HDRLog = hp
	}
	var notes []string
	hb := res.HB
	f.Heartbeats = hb
	sc := &results.Scale{ConnectNs: int64(res.ConnectTime), SourceAddrs: res.SourceAddrs, LoadProcs: max(len(res.Shares), 1)}
	if s := r.scale; s != nil {
		sc.NofileSoft, sc.NofileHard, sc.Ceiling = s.limits.Soft, s.limits.Hard, s.ceiling
	}
	if res.ConnectTime > 0 {
		sc.AcceptPerSec = results.Val(float64(w.Conns) / res.ConnectTime.Seconds())
	}
	cores, clientCores := r.cores()
	sw := serverFigures(probes, float64(res.Msgs), w.Conns, cores, fresh)
	f.Server = sw.Metrics
	notes = append(notes, sw.Notes...)
	if p := probes; p.Idle.MemOK && fresh {
		sc.RSSEmptyBytes = results.Val(float64(p.Idle.RSS))
	}
	if a := probes.After.Proc; a.MemOK {
		sc.RSSBytes = results.Val(float64(a.RSS))
		sc.RSSBytesPerConn = results.Val(float64(a.RSS) / float64(w.Conns))
		if sc.RSSEmptyBytes != nil {
			sc.RSSAboveEmptyPerConn = results.Val((float64(a.RSS) - *sc.RSSEmptyBytes) / float64(w.Conns))
		}
	}
	if ss0.OK && ss1.OK {
		mem := (float64(ss1.MemPages) - float64(ss0.MemPages)) * float64(os.Getpagesize())
		sc.SockMemBytes = results.Val(mem)
		sc.SockMemBytesPerConn = results.Val(mem / float64(w.Conns))
		sc.SocketsInUse = results.Val(float64(ss1.Inuse) - float64(ss0.Inuse))
	}
	f.Scale = sc
	if st := results.SteadyOf(res.SliceSeries()); st != nil {
		st.WarmupNs = int64(lc.Warmup)
		f.Steady = st
	}
	var cu *float64
	if res.ClientCPU >= 0 && res.Window > 0 {
		cu = results.Val(float64(res.ClientCPU) / float64(res.Window) / clientCores)
	}
	f.Bottleneck = Bottleneck(sw.Util, cu)
	if sw.Util != nil && cu != nil {
		notes = append(notes, fmt.Sprintf("cpu use: server %.0f%% of %g core(s), client %.0f%% of %g core(s)", *sw.Util*100, cores, *cu*100, clientCores))
	}
	if probes.SyscallsErr != nil {
		notes = append(notes, "syscalls n/a: "+probes.SyscallsErr.Error())
	}
	notes = append(notes, fmt.Sprintf("%d idle connections from %d source address(es), heartbeat every 1 s; msgs/s and latency are the heartbeats' (latency from the due time); per-message costs per heartbeat; socket memory from /proc/net/sockstat covers both ends (loopback)", w.Conns, res.SourceAddrs))
	if hb != nil {
		notes = append(notes, fmt.Sprintf("heartbeats due %d, sent %d, answered %d, late %d", hb.Due, hb.Sent, hb.Answered, hb.Late))
		if hb.Sent < hb.Due || hb.LateSent > 0 {
			// The load generator did not keep its schedule: the result is the client's.
			f.Bottleneck = results.BottleneckClient
			notes = append(notes, fmt.Sprintf("client-bound: the load generator sent %d of %d heartbeats due, %d of them more than a period late (largest lag %v)", hb.Sent, hb.Due, hb.LateSent, time.Duration(hb.MaxSendLagNs).Round(time.Microsecond)))
		}
		if late := hb.Late - min(hb.Late, hb.LateSent); late > 0 {
			notes = append(notes, fmt.Sprintf("%d heartbeats answered more than a period after they were due", late))
		}
	}
	f.Note = strings.Join(notes, "; ")
	if ctx.Err() != nil && res.Verify.Corrupt+res.Verify.Reordered+res.Verify.Duplicated == 0 {
		return interruptedRep(m)
	}
	switch {
	case err != nil:
		return fail(err)
	case !res.OK():
		return fail(errors.New("verification failed: " + verifyText(res.Verify, res.FirstError)))
	case res.Errors > 0:
		return fail(fmt.Errorf("%d connection errors: %s", res.Errors, res.FirstError))
	case hb != nil && hb.Answered < hb.Sent:
		return fail(fmt.Errorf("%d of %d heartbeats sent in the window were never answered", hb.Sent-hb.Answered, hb.Sent))
	}
	return m
}

func hasScale(ws []Workload) bool {
	for _, w := range ws {
		if w.Scale {
			return true
		}
	}
	return false
}

// skippedScale is the results of a scale workload above the ceiling: every label skipped
// with the one line, and the unavailable backends with their own reason.
func (r *runner) skippedScale(w Workload, unavailable []label, reasons map[string]string) []results.Result {
	var out []results.Result
	for _, l := range r.labels {
		res := r.newResult(l, w)
		res.Skipped, res.ClientBackend = w.Skip, idleDriverName
		out = append(out, *res)
	}
	for _, l := range unavailable {
		res := r.newResult(l, w)
		res.Skipped, res.ClientBackend = reasons[l.Name], idleDriverName
		out = append(out, *res)
	}
	return out
}

// scaleClient records the heartbeat driver as the client of a scale workload's results.
func scaleClient(w Workload, rs []results.Result) []results.Result {
	if w.Scale {
		for i := range rs {
			rs[i].ClientBackend = idleDriverName
		}
	}
	return rs
}

// splitIdle divides a heartbeat-driver load (every connection idle) into at most n shares of
// whole connections, as evenly as possible, with disjoint source ranges and one schedule
// (ScheduleConns: the whole load's connections), so the shares' heartbeats are spread over
// the period as one load's would be.
func splitIdle(cfg LoadConfig, n int) []LoadConfig {
	k := min(max(n, 1), cfg.Conns)
	total := cfg.ScheduleConns
	if total <= 0 {
		total = cfg.Conns
	}
	out := make([]LoadConfig, 0, k)
	src := cfg.SrcBase
	for i := range k {
		s := cfg
		s.Loops = 0 // the agent's own default
		s.Conns = cfg.Conns / k
		if i < cfg.Conns%k {
			s.Conns++
		}
		s.IdleConns, s.SrcBase, s.ScheduleConns = s.Conns, src, total
		s.ServerSessions = nil // the server is not the agent's to ask
		src += uint32(s.Conns)
		out = append(out, s)
	}
	return out
}
