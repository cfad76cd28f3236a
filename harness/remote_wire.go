package harness

import (
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The wire forms of the agent control protocol (package agent serves it, remote.go is its
// client): what crosses the network between the coordinator (`iobench run --server-agent
// --load-agents`) and an agent. The protocol is documented in agent/doc.go; these types are
// its JSON bodies. Durations are int64 nanoseconds (time.Duration's JSON form).

// WireLoad is a LoadConfig without its callbacks: the share of a load one load agent runs.
// The callbacks become protocol steps: BeforeTraffic is the agent's "connected" state and the
// coordinator's go (with the start instant), BeforeWindow/AfterWindow are called by the
// coordinator at the window's edges, DuringWindow's mark is taken by the agent at its window
// start (MarkAtWindow).
type WireLoad struct {
	Target         string        `json:"target"`
	Proto          string        `json:"proto"`
	Broadcast      bool          `json:"broadcast,omitempty"`
	Room           int           `json:"room,omitempty"`
	JoinCheck      bool          `json:"join_check,omitempty"`
	Conns          int           `json:"conns"`
	Size           int           `json:"size"`
	Depth          int           `json:"depth,omitempty"`
	Rate           float64       `json:"rate,omitempty"`
	Burst          int           `json:"burst,omitempty"`
	ConnectTimeout time.Duration `json:"connect_timeout_ns,omitempty"`
	Warmup         time.Duration `json:"warmup_ns"`
	Duration       time.Duration `json:"duration_ns"`
	Drain          time.Duration `json:"drain_ns,omitempty"`
	SrcBase        uint32        `json:"src_base"`
	IdleConns      int           `json:"idle_conns,omitempty"`
	Heartbeat      time.Duration `json:"heartbeat_ns,omitempty"`
	// IdleDriver, SrcPerAddr, ConnectWindow: the heartbeat driver's (its ServerSessions
	// callback does not cross the wire: an agent's driver connects without that bound).
	IdleDriver        bool          `json:"idle_driver,omitempty"`
	SrcPerAddr        int           `json:"src_per_addr,omitempty"`
	ConnectWindow     int           `json:"connect_window,omitempty"`
	OneShot           bool          `json:"one_shot,omitempty"`
	Churn             bool          `json:"churn,omitempty"`
	ReconnectDelay    time.Duration `json:"reconnect_delay_ns,omitempty"`
	ExpectDisconnects bool          `json:"expect_disconnects,omitempty"`
	MarkAtWindow      bool          `json:"mark_at_window,omitempty"`
	ClientBackend     string        `json:"client_backend"`
	Loops             int           `json:"loops,omitempty"`
	// ScheduleConns: the heartbeat driver's whole schedule when this is one share of it.
	ScheduleConns int `json:"schedule_conns,omitempty"`
}

// WireLoadOf is the wire form of cfg (its callbacks dropped; DuringWindow becomes MarkAtWindow).
func WireLoadOf(cfg LoadConfig) WireLoad {
	return WireLoad{Target: cfg.Target, Proto: string(cfg.Proto), Broadcast: cfg.Broadcast, Room: cfg.Room, JoinCheck: cfg.JoinCheck,
		Conns: cfg.Conns, Size: cfg.Size, Depth: cfg.Depth, Rate: cfg.Rate, Burst: cfg.Burst,
		ConnectTimeout: cfg.ConnectTimeout, Warmup: cfg.Warmup, Duration: cfg.Duration, Drain: cfg.Drain,
		SrcBase: cfg.SrcBase, IdleConns: cfg.IdleConns, Heartbeat: cfg.Heartbeat, IdleDriver: cfg.IdleDriver,
		SrcPerAddr: cfg.SrcPerAddr, ConnectWindow: cfg.ConnectWindow, OneShot: cfg.OneShot,
		Churn: cfg.Churn, ReconnectDelay: cfg.ReconnectDelay, ExpectDisconnects: cfg.ExpectDisconnects,
		MarkAtWindow: cfg.DuringWindow != nil, ClientBackend: cfg.ClientBackend, Loops: cfg.Loops,
		ScheduleConns: cfg.ScheduleConns}
}

// Config is the LoadConfig w describes, validated (an agent refuses a bad one with 400).
func (w WireLoad) Config() (LoadConfig, error) {
	c := w.config()
	return c, c.Validate()
}

func (w WireLoad) config() LoadConfig {
	c := LoadConfig{Target: w.Target, Proto: proto.Name(w.Proto), IdleDriver: w.IdleDriver, SrcPerAddr: w.SrcPerAddr,
		ConnectWindow: w.ConnectWindow, Broadcast: w.Broadcast, Room: w.Room, JoinCheck: w.JoinCheck, Conns: w.Conns,
		Size: w.Size, Depth: w.Depth, Rate: w.Rate, Burst: w.Burst, ConnectTimeout: w.ConnectTimeout,
		Warmup: w.Warmup, Duration: w.Duration, Drain: w.Drain, SrcBase: w.SrcBase, IdleConns: w.IdleConns,
		Heartbeat: w.Heartbeat, OneShot: w.OneShot, Churn: w.Churn, ReconnectDelay: w.ReconnectDelay,
		ExpectDisconnects: w.ExpectDisconnects, ClientBackend: w.ClientBackend, Loops: w.Loops,
		ScheduleConns: w.ScheduleConns}
	if w.MarkAtWindow {
		c.DuringWindow = func(mark func()) { mark() }
	}
	return c
}

// WireHist is one HDR histogram in the V2 compressed encoding (results.NewLatencyHistogram's
// fixed range on both ends, so shards merge exactly) with its interval's wall-clock edges.
type WireHist struct {
	StartMs int64  `json:"start_ms,omitempty"`
	EndMs   int64  `json:"end_ms,omitempty"`
	Data    []byte `json:"data"` // base64 in JSON
}

func wireHist(h *hdrhistogram.Histogram) (WireHist, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return WireHist{}, err
	}
	return WireHist{StartMs: h.StartTimeMs(), EndMs: h.EndTimeMs(), Data: b}, nil
}

// hist decodes w, shifting its interval edges by shiftMs (an agent's clock to the
// coordinator's).
func (w WireHist) hist(shiftMs int64) (*hdrhistogram.Histogram, error) {
	d, err := hdrhistogram.Decode(w.Data)
	if err != nil {
		return nil, err
	}
	// Into the fixed range, so that every merge adds counts bucket for bucket.
	h := newHist()
	if dropped := h.Merge(d); dropped != 0 {
		return nil, fmt.Errorf("%d samples outside the latency range", dropped)
	}
	if w.StartMs != 0 || w.EndMs != 0 {
		h.SetStartTimeMs(w.StartMs - shiftMs)
		h.SetEndTimeMs(w.EndMs - shiftMs)
	}
	return h, nil
}

// WireResult is a LoadResult as a load agent returns it, histograms encoded, and the agent's
// CPUs (the core share of its CPU per message).
type WireResult struct {
	Window     time.Duration  `json:"window_ns"`
	Msgs       uint64         `json:"msgs"`
	Bytes      uint64         `json:"bytes"`
	Heartbeats uint64         `json:"heartbeats,omitempty"`
	Hist       *WireHist      `json:"hist,omitempty"`
	Intervals  []WireHist     `json:"intervals,omitempty"`
	SliceMsgs  []uint64       `json:"slice_msgs,omitempty"`
	Verify     results.Verify `json:"verify"`
	Errors     uint64         `json:"errors"`
	ClientCPU  time.Duration  `json:"client_cpu_ns"` // <0 unknown
	Connected  uint64         `json:"connected"`
	PacerLag   time.Duration  `json:"pacer_lag_ns,omitempty"`
	FirstError string         `json:"first_error,omitempty"`
	CPUs       int            `json:"cpus"`
	// HB, ConnectTime and SourceAddrs are the heartbeat driver's (LoadResult's fields).
	HB          *results.Heartbeats `json:"heartbeats_account,omitempty"`
	ConnectTime time.Duration       `json:"connect_time_ns,omitempty"`
	SourceAddrs int                 `json:"source_addrs,omitempty"`
	// Retransmits are the TCP segments sent again in the agent's network namespace during
	// the load (connect to drain; TCPRetransSegs), nil where unknown.
	Retransmits *uint64 `json:"tcp_retransmits,omitempty"`
}

// WireResultOf encodes r.
func WireResultOf(r *LoadResult) (*WireResult, error) {
	w := &WireResult{Window: r.Window, Msgs: r.Msgs, Bytes: r.Bytes, Heartbeats: r.Heartbeats,
		SliceMsgs: r.SliceMsgs, Verify: r.Verify, Errors: r.Errors, ClientCPU: r.ClientCPU,
		Connected: r.Connected, PacerLag: r.PacerLag, FirstError: r.FirstError, CPUs: len(allowedCPUs()),
		HB: r.HB, ConnectTime: r.ConnectTime, SourceAddrs: r.SourceAddrs}
	if r.Hist != nil {
		h, err := wireHist(r.Hist)
		if err != nil {
			return nil, err
		}
		w.Hist = &h
	}
	for _, ih := range r.Intervals {
		h, err := wireHist(ih)
		if err != nil {
			return nil, err
		}
		w.Intervals = append(w.Intervals, h)
	}
	return w, nil
}

// Result decodes w into a LoadResult of cfg; shift is the agent's clock offset (agent −
// coordinator), taken out of the interval edges so every shard's slices are on one clock.
func (w *WireResult) Result(cfg LoadConfig, shift time.Duration) (*LoadResult, error) {
	r := &LoadResult{Config: cfg, Window: w.Window, Msgs: w.Msgs, Bytes: w.Bytes, Heartbeats: w.Heartbeats,
		SliceMsgs: w.SliceMsgs, Verify: w.Verify, Errors: w.Errors, ClientCPU: w.ClientCPU,
		Connected: w.Connected, PacerLag: w.PacerLag, FirstError: w.FirstError, HB: w.HB,
		ConnectTime: w.ConnectTime, SourceAddrs: w.SourceAddrs}
	ms := shift.Milliseconds()
	if w.Hist != nil {
		h, err := w.Hist.hist(ms)
		if err != nil {
			return nil, fmt.Errorf("histogram: %w", err)
		}
		r.Hist = h
	}
	for i, wh := range w.Intervals {
		h, err := wh.hist(ms)
		if err != nil {
			return nil, fmt.Errorf("interval %d: %w", i, err)
		}
		r.Intervals = append(r.Intervals, h)
	}
	if r.Hist == nil && len(r.Intervals) > 0 {
		return nil, errors.New("intervals without a histogram")
	}
	return r, nil
}

// WireSnapshot and WireProbes are WindowProbes on the wire (an error becomes its text).
type WireProbes struct {
	Idle        procSample     `json:"idle"`
	Before      ServerSnapshot `json:"before"`
	After       ServerSnapshot `json:"after"`
	Syscalls    *uint64        `json:"syscalls,omitempty"`
	SyscallsErr string         `json:"syscalls_error,omitempty"`
	// TCPRetransmits over the window in the agent's network namespace (TCPRetransSegs).
	TCPRetransmits *uint64 `json:"tcp_retransmits,omitempty"`
}

// WireProbesOf is the wire form of p.
func WireProbesOf(p WindowProbes) WireProbes {
	w := WireProbes{Idle: p.Idle, Before: p.Before, After: p.After, Syscalls: p.Syscalls, TCPRetransmits: p.TCPRetransmits}
	if p.SyscallsErr != nil {
		w.SyscallsErr = p.SyscallsErr.Error()
	}
	return w
}

// Probes is the WindowProbes w carries.
func (w WireProbes) Probes() WindowProbes {
	p := WindowProbes{Idle: w.Idle, Before: w.Before, After: w.After, Syscalls: w.Syscalls, TCPRetransmits: w.TCPRetransmits}
	if w.SyscallsErr != "" {
		p.SyscallsErr = errors.New(w.SyscallsErr)
	}
	return p
}

// WireServerSpec starts a server under test on a server agent.
type WireServerSpec struct {
	Backend string   `json:"backend"`
	Args    []string `json:"args,omitempty"`
	// Addr is the listen address on the agent's host; empty: the agent's --serve-host, port 0.
	Addr string `json:"addr,omitempty"`
}

// WireServer is a started server: its id on the agent, where it listens, its pid there.
type WireServer struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
}

// WireInfo describes an agent's host (GET /v1/info).
type WireInfo struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	PID      int    `json:"pid"`
	CPUs     int    `json:"cpus"` // CPUs it may run on (affinity)
	// ServeHost is the host its servers listen on by default.
	ServeHost string `json:"serve_host"`
	// NetNS is the network namespace it runs in (the inode of /proc/self/ns/net), "" where
	// unknown.
	NetNS string `json:"netns,omitempty"`
	// UnixNs is its wall clock when it answered.
	UnixNs int64 `json:"unix_ns"`
	// Env is its machine and build (a server agent's becomes the run's Env).
	Env *results.Env `json:"env,omitempty"`
}

// HostEnv is the manifest of this machine and build (results.Env; pinning, GOMAXPROCS and
// loops are the run's to fill).
func HostEnv() results.Env { return environment() }

// WireTime is the agent's wall clock (GET /v1/time), for the clock-offset estimate.
type WireTime struct {
	UnixNs int64 `json:"unix_ns"`
}

// WireError is every error response's body.
type WireError struct {
	Error string `json:"error"`
}

// AllowedCPUs are the CPUs this process may run on (nil where unknown).
func AllowedCPUs() []int { return allowedCPUs() }

// PinSelf restricts this process (every thread; children inherit it) to cpus.
func PinSelf(cpus []int) error { return pinProcess(0, cpus) }

// ServerPID is the process id of a server LocalServers or RemoteServers started (on its
// host; 0 for another Server or one that is down).
func ServerPID(s Server) int {
	if r, ok := s.(*remoteServer); ok {
		return r.ws.PID
	}
	if l, ok := s.(*localServer); ok {
		if p := l.proc(); p != nil {
			return p.pid()
		}
	}
	return 0
}
