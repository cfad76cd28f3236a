package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/iobench/iobench/results"
)

// RemoteLoads runs each load split across load agents (LoadHost): connections and offered
// rate divided among them (splitLoad), every share connected first, then all started at one
// instant (converted into each agent's clock with its offset, estimated before each load),
// and the shares' results merged exactly (LoadResult.Merge: HDR counts add, verification
// counts add). Each agent's CPU per message and utilisation are recorded
// (LoadResult.Shares): the client side is as saturated as its busiest agent.
type RemoteLoads struct {
	Agents []*AgentClient
	// CPUs of each agent (WireInfo.CPUs; 0: unknown), for the utilisation; Pinned the CPUs
	// each was pinned to (agent --cpus; nil: not pinned).
	CPUs   []int
	Pinned [][]int
}

var _ LoadHost = (*RemoteLoads)(nil)

// startMargin is added to the slowest control round trip when the common start instant is
// chosen: every agent must have its go before the instant comes.
const startMargin = 100 * time.Millisecond

// splitLoad divides cfg into at most n shares: whole connections (broadcast: whole rooms) as
// evenly as possible, idle connections likewise, each share's rate proportional to its active
// connections, disjoint source ranges. Fewer than n shares come back when there are fewer
// active units than agents.
func splitLoad(cfg LoadConfig, n int) []LoadConfig {
	if cfg.IdleDriver {
		return splitIdle(cfg, n) // scale.go
	}
	unit := 1
	if cfg.Broadcast && cfg.Room > 0 {
		unit = cfg.Room
	}
	active := cfg.Conns - cfg.IdleConns
	units := active / unit
	k := min(n, units)
	if k <= 1 {
		one := cfg
		one.Loops = 0
		return []LoadConfig{one}
	}
	out := make([]LoadConfig, 0, k)
	src := cfg.SrcBase
	for i := range k {
		u := units / k
		if i < units%k {
			u++
		}
		idle := cfg.IdleConns / k
		if i >= k-cfg.IdleConns%k {
			idle++
		}
		s := cfg
		s.Loops = 0 // the agent's own default
		s.IdleConns = idle
		s.Conns = u*unit + idle
		s.SrcBase = src
		if cfg.Rate > 0 {
			s.Rate = cfg.Rate * float64(u*unit) / float64(active)
		}
		src += uint32(s.Conns)
		out = append(out, s)
	}
	return out
}

type shareRun struct {
	c      *AgentClient
	cpus   int
	cfg    LoadConfig
	id     string
	offset time.Duration
	rtt    time.Duration
	status struct {
		State  string      `json:"state"`
		Error  string      `json:"error,omitempty"`
		Result *WireResult `json:"result,omitempty"`
	}
	err error
}

func (s *shareRun) path(op string) string {
	p := "/v1/loads/" + url.PathEscape(s.id)
	if op != "" {
		p += "/" + op
	}
	return p
}

// each runs f on every share concurrently and returns the first error.
func each(shares []*shareRun, f func(*shareRun) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(shares))
	for i, s := range shares {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(s) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Load implements LoadHost.
func (h *RemoteLoads) Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if len(h.Agents) == 0 {
		return nil, errors.New("no load agents")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	parts := splitLoad(cfg, len(h.Agents))
	shares := make([]*shareRun, len(parts))
	for i, p := range parts {
		shares[i] = &shareRun{c: h.Agents[i], cfg: p}
		if i < len(h.CPUs) {
			shares[i].cpus = h.CPUs[i]
		}
	}
	// Clocks first (no load running yet), then the shares.
	if err := each(shares, func(s *shareRun) (err error) {
		s.offset, s.rtt, err = s.c.ClockOffset(ctx, 5)
		return err
	}); err != nil {
		return nil, err
	}
	created := func(s *shareRun) bool { return s.id != "" }
	defer each(shares, func(s *shareRun) error {
		if created(s) {
			return s.c.Do(context.Background(), http.MethodDelete, s.path(""), quick+cfg.Drain+drainCap, nil, nil)
		}
		return nil
	})
	t0 := time.Now() // the connect time of a heartbeat-driver load is the coordinator's
	if err := each(shares, func(s *shareRun) error {
		var job struct{ ID string }
		err := s.c.Do(ctx, http.MethodPost, "/v1/loads", quick, WireLoadOf(s.cfg), &job)
		s.id = job.ID
		return err
	}); err != nil {
		return nil, err
	}
	wait := func(s *shareRun, state string, timeout time.Duration) error {
		q := fmt.Sprintf("?wait=%s&timeout_ms=%d", state, timeout.Milliseconds())
		return s.c.Do(ctx, http.MethodGet, s.path("")+q, timeout+quick, nil, &s.status)
	}
	connectWait := cfg.ConnectTimeout + 5*time.Second
	if err := each(shares, func(s *shareRun) error {
		if err := wait(s, "connected", connectWait); err != nil {
			return err
		}
		if s.status.State != "connected" {
			if s.status.Error == "" {
				s.status.Error = "state " + s.status.State + " after " + connectWait.String()
			}
			return fmt.Errorf("load agent %s: %s", s.c.Addr, s.status.Error)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if cfg.BeforeTraffic != nil {
		if err := cfg.BeforeTraffic(); err != nil {
			return nil, err
		}
	}
	connectTime := time.Since(t0)
	var slowest time.Duration
	for _, s := range shares {
		slowest = max(slowest, s.rtt)
	}
	start := time.Now().Add(startMargin + 2*slowest)
	if !cfg.StartAt.IsZero() && cfg.StartAt.After(start) {
		start = cfg.StartAt
	}
	if err := each(shares, func(s *shareRun) error {
		return s.c.Do(ctx, http.MethodPost, s.path("go"), quick,
			map[string]int64{"start_unix_ns": start.Add(s.offset).UnixNano()}, nil)
	}); err != nil {
		return nil, err
	}
	h.edges(ctx, cfg, start, shares)
	doneWait := cfg.Warmup + cfg.Duration + cfg.Drain + drainCap + time.Minute
	err := each(shares, func(s *shareRun) error {
		if err := wait(s, "done", time.Until(start)+doneWait); err != nil {
			return err
		}
		if s.status.State != "done" {
			return fmt.Errorf("load agent %s: not done after %v", s.c.Addr, doneWait)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return nil, err
	}
	res, err := h.merge(ctx, cfg, shares)
	if res != nil && cfg.IdleDriver {
		res.ConnectTime = connectTime
	}
	return res, err
}

// edges calls the window's edge callbacks at the shares' common window start and end (on
// this host's clock), and cancels every share when ctx ends.
func (h *RemoteLoads) edges(ctx context.Context, cfg LoadConfig, start time.Time, shares []*shareRun) {
	until := func(t time.Time) bool {
		if d := time.Until(t); d > 0 {
			return sleepCtx(ctx, d)
		}
		return ctx.Err() == nil
	}
	stopped := false
	if until(start.Add(cfg.Warmup)) {
		if cfg.BeforeWindow != nil {
			cfg.BeforeWindow()
		}
		if cfg.DuringWindow != nil {
			go cfg.DuringWindow(func() {})
		}
		if until(start.Add(cfg.Warmup + cfg.Duration)) {
			if cfg.AfterWindow != nil {
				cfg.AfterWindow()
			}
		} else {
			stopped = true
		}
	} else {
		stopped = true
	}
	if stopped {
		each(shares, func(s *shareRun) error {
			return s.c.Do(context.Background(), http.MethodPost, s.path("cancel"), quick, nil, nil)
		})
	}
}

// merge decodes the shares' results and merges them into one, with each agent's share.
func (h *RemoteLoads) merge(ctx context.Context, cfg LoadConfig, shares []*shareRun) (*LoadResult, error) {
	var out *LoadResult
	var errs []error
	for _, s := range shares {
		if s.status.Error != "" {
			errs = append(errs, fmt.Errorf("load agent %s: %s", s.c.Addr, s.status.Error))
		}
		if s.status.Result == nil {
			continue
		}
		r, err := s.status.Result.Result(s.cfg, s.offset)
		if err != nil {
			return nil, fmt.Errorf("load agent %s: %w", s.c.Addr, err)
		}
		share := results.AgentShare{Agent: s.c.Addr, Conns: s.cfg.Conns, Msgs: r.Msgs, CPUs: s.status.Result.CPUs,
			ClockOffsetNs: int64(s.offset), ClockRTTNs: int64(s.rtt), TCPRetransmits: s.status.Result.Retransmits}
		if share.CPUs == 0 {
			share.CPUs = s.cpus
		}
		if s.cfg.Rate > 0 {
			share.Rate = results.Val(s.cfg.Rate)
		}
		if r.ClientCPU >= 0 {
			if n := r.Msgs + r.Heartbeats; n > 0 {
				share.CPUNsPerMsg = results.Val(float64(r.ClientCPU) / float64(n))
			}
			if r.Window > 0 && share.CPUs > 0 {
				share.CPUUtil = results.Val(float64(r.ClientCPU) / float64(r.Window) / float64(share.CPUs))
			}
		}
		if out == nil {
			out = r
			out.Config = cfg
		} else {
			out.Merge(r)
		}
		out.Shares = append(out.Shares, share)
	}
	if out == nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.Join(append(errs, errors.New("no load agent returned a result"))...)
	}
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	return out, errors.Join(errs...)
}
