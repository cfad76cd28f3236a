package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iobench/iobench/harness"
)

// Load share states (GET /v1/loads/{id}).
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateRunning    = "running"
	StateDone       = "done"
)

// LoadStatus is GET /v1/loads/{id}'s body.
type LoadStatus struct {
	State  string              `json:"state"`
	Error  string              `json:"error,omitempty"`
	Result *harness.WireResult `json:"result,omitempty"`
}

// loadJob is one load share in progress on this agent.
type loadJob struct {
	cancel context.CancelFunc
	goAt   chan time.Time // the start instant, on this agent's clock
	gone   atomic.Bool    // told to go (once)
	done   chan struct{}

	mu      sync.Mutex
	status  LoadStatus
	changed chan struct{} // closed and replaced on every state change
}

func (j *loadJob) set(f func(*LoadStatus)) {
	j.mu.Lock()
	f(&j.status)
	close(j.changed)
	j.changed = make(chan struct{})
	j.mu.Unlock()
}

// wait returns the status once it is in state (or done) or after timeout.
func (j *loadJob) wait(state string, timeout time.Duration) LoadStatus {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		j.mu.Lock()
		st, ch := j.status, j.changed
		j.mu.Unlock()
		if state == "" || st.State == state || st.State == StateDone {
			return st
		}
		select {
		case <-ch:
		case <-t.C:
			return st
		}
	}
}

func (a *Agent) startLoad(w http.ResponseWriter, r *http.Request) {
	var wl harness.WireLoad
	if err := decode(r, &wl); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	cfg, err := wl.Config()
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	j := &loadJob{cancel: cancel, goAt: make(chan time.Time, 1), done: make(chan struct{}),
		status: LoadStatus{State: StateConnecting}, changed: make(chan struct{})}
	cfg.BeforeTraffic = func() error {
		j.set(func(s *LoadStatus) { s.State = StateConnected })
		select {
		case at := <-j.goAt:
			j.set(func(s *LoadStatus) { s.State = StateRunning })
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(goTimeout):
			return fmt.Errorf("no go from the coordinator within %v of connecting", goTimeout)
		}
	}
	a.mu.Lock()
	if a.ctx.Err() != nil {
		a.mu.Unlock()
		cancel()
		fail(w, http.StatusConflict, errors.New("agent stopping"))
		return
	}
	id := a.nextID("l")
	a.loads[id] = j
	a.mu.Unlock()
	go func() {
		defer close(j.done)
		defer cancel()
		before, rerr := harness.TCPRetransSegs()
		res, err := harness.Load(ctx, cfg)
		var wr *harness.WireResult
		if res != nil {
			var eerr error
			if wr, eerr = harness.WireResultOf(res); eerr != nil && err == nil {
				err = eerr
			}
			if after, aerr := harness.TCPRetransSegs(); wr != nil && rerr == nil && aerr == nil && after >= before {
				n := after - before
				wr.Retransmits = &n
			}
		}
		j.set(func(s *LoadStatus) {
			s.State, s.Result = StateDone, wr
			if err != nil {
				s.Error = err.Error()
			}
		})
	}()
	reply(w, struct {
		ID string `json:"id"`
	}{id})
}

func (a *Agent) job(w http.ResponseWriter, r *http.Request) (string, *loadJob) {
	return lookup(a, w, r, "load", a.loads)
}

func (a *Agent) loadState(w http.ResponseWriter, r *http.Request) {
	_, j := a.job(w, r)
	if j == nil {
		return
	}
	state := r.URL.Query().Get("wait")
	switch state {
	case "", StateConnected, StateDone:
	default:
		fail(w, http.StatusBadRequest, fmt.Errorf("wait=%q: want connected or done", state))
		return
	}
	timeout := time.Duration(0)
	if s := r.URL.Query().Get("timeout_ms"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms < 0 || ms > 600_000 {
			fail(w, http.StatusBadRequest, fmt.Errorf("timeout_ms=%q: want 0..600000", s))
			return
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	reply(w, j.wait(state, timeout))
}

func (a *Agent) loadOp(w http.ResponseWriter, r *http.Request) {
	_, j := a.job(w, r)
	if j == nil {
		return
	}
	switch op := r.PathValue("op"); op {
	case "go":
		var q struct {
			StartUnixNs int64 `json:"start_unix_ns"`
		}
		if err := decode(r, &q); err != nil || q.StartUnixNs <= 0 {
			fail(w, http.StatusBadRequest, fmt.Errorf("want {start_unix_ns > 0}: %v", err))
			return
		}
		if j.gone.Swap(true) {
			fail(w, http.StatusConflict, errors.New("already told to go"))
			return
		}
		j.goAt <- time.Unix(0, q.StartUnixNs)
	case "cancel":
		j.cancel()
	default:
		fail(w, http.StatusNotFound, fmt.Errorf("unknown load operation %q", op))
		return
	}
	reply(w, struct{}{})
}

func (a *Agent) deleteLoad(w http.ResponseWriter, r *http.Request) {
	id, j := a.job(w, r)
	if j == nil {
		return
	}
	j.cancel()
	<-j.done
	a.mu.Lock()
	delete(a.loads, id)
	a.mu.Unlock()
	reply(w, struct{}{})
}
