package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The two seams of a run: where the server under test runs and is probed (ServerHost), and
// where the load runs (LoadHost). `iobench run` uses the local implementations: each server a
// child process of this one, the load in this process. A server agent on another host, or
// load agents running shares of one load (LoadConfig.SrcBase/StartAt, LoadResult.Merge), fit
// behind the same two interfaces.

// ServerSpec is one server under test to start: `iobench serve` with Args (the workload's
// --proto, --room, --pool, --loops, --gomaxprocs...) on Addr.
type ServerSpec struct {
	Backend string
	Args    []string
	Addr    string // listen address; "127.0.0.1:0" picks a free port
}

// ServerHost starts servers under test.
type ServerHost interface {
	Start(ctx context.Context, spec ServerSpec) (Server, error)
}

// Server is one running server under test and its probes.
type Server interface {
	// Addr is where the load connects.
	Addr() string
	// WaitReady waits until the server's app has exactly n sessions, every one through
	// OnConnect, and no other live (0: until the previous load's sessions are gone).
	WaitReady(n int, timeout time.Duration) error
	// PrepareWindow readies the probes of the next window before its load connects: the idle
	// reading (RSS before the load's connections) and, with syscalls, the syscall counter.
	PrepareWindow(syscalls bool)
	// BeginWindow and EndWindow probe the server at the edges of the window. They are called
	// from the load's window edges and must be quick.
	BeginWindow()
	EndWindow()
	// Window returns the last window's probes (the syscall count finished).
	Window() WindowProbes
	// Crash kills the server at once (SIGKILL) and starts it again on the same address
	// (scenario reconnect).
	Crash(ctx context.Context) error
	// Stop ends the server; an error says it did not end cleanly.
	Stop() error
}

// LoadHost runs loads.
type LoadHost interface {
	Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error)
}

// LocalLoad runs each load in this process (pinned with it to the load generator's CPUs).
type LocalLoad struct{}

// Load implements LoadHost.
func (LocalLoad) Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	return Load(ctx, cfg)
}

// LocalServers starts each server under test as a child process, `Exe serve --control`,
// pinned to CPUs (none: not pinned), and probes it through the platform's process counters
// (/proc on Linux), perf (syscalls, where usable) and its control channel (its own CPU and GC
// account, its app's sessions).
type LocalServers struct {
	Exe  string
	CPUs []int
}

var (
	_ ServerHost = (*LocalServers)(nil)
	_ Server     = (*localServer)(nil)
	_ LoadHost   = LocalLoad{}
)

// Start implements ServerHost.
func (h *LocalServers) Start(ctx context.Context, spec ServerSpec) (Server, error) {
	p, err := h.start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &localServer{host: h, spec: spec, addr: p.addr, p: p}, nil
}

func (h *LocalServers) start(ctx context.Context, spec ServerSpec) (*serverProc, error) {
	args := append([]string{"--backend", spec.Backend, "--addr", spec.Addr}, spec.Args...)
	p, err := startServer(ctx, h.Exe, args)
	if err != nil {
		return nil, err
	}
	if len(h.CPUs) > 0 {
		if err := pinProcess(p.pid(), h.CPUs); err != nil {
			p.kill()
			return nil, fmt.Errorf("pinning the server: %w", err)
		}
	}
	return p, nil
}

type localServer struct {
	host *LocalServers
	spec ServerSpec
	addr string

	mu     sync.Mutex
	p      *serverProc // nil between a crash and its restart
	pc     *syscallCounter
	pcErr  error
	probes WindowProbes
}

func (s *localServer) proc() *serverProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

func (s *localServer) Addr() string { return s.addr }

func (s *localServer) WaitReady(n int, timeout time.Duration) error {
	p := s.proc()
	if p == nil {
		return errors.New("server down")
	}
	return p.waitReady(n, timeout)
}

func (s *localServer) PrepareWindow(syscalls bool) {
	p := s.proc()
	s.probes = WindowProbes{}
	s.probes.Idle, _ = sampleProc(p.pid())
	s.pc, s.pcErr = nil, nil
	if syscalls {
		s.pc, s.pcErr = startSyscallCounter(p.pid())
	}
}

// snapshot reads the server: its own account first, then the outside view.
func (s *localServer) snapshot(p *serverProc) ServerSnapshot {
	var snap ServerSnapshot
	if st, err := p.stats(); err == nil {
		snap.Stats = &st
	}
	snap.Proc, _ = sampleProc(p.pid())
	return snap
}

func (s *localServer) BeginWindow() {
	p := s.proc()
	s.probes.Before = s.snapshot(p)
	if s.pc != nil {
		s.pcErr = s.pc.enable()
	}
}

func (s *localServer) EndWindow() {
	p := s.proc()
	if s.pc != nil && s.pcErr == nil {
		s.pcErr = s.pc.disable()
	}
	// Reverse order of BeginWindow, so that the interval is the same for both views.
	snap := ServerSnapshot{}
	snap.Proc, _ = sampleProc(p.pid())
	if st, err := p.stats(); err == nil {
		snap.Stats = &st
	}
	s.probes.After = snap
}

func (s *localServer) Window() WindowProbes {
	if s.pc != nil {
		n, err := s.pc.finish()
		if s.pcErr == nil {
			s.pcErr = err
		}
		if s.pcErr == nil {
			s.probes.Syscalls = &n
		}
		s.pc = nil
	}
	s.probes.SyscallsErr = s.pcErr
	return s.probes
}

func (s *localServer) Crash(ctx context.Context) error {
	if err := s.kill(); err != nil {
		return err
	}
	return s.restart(ctx)
}

// kill ends the server process at once (SIGKILL) and returns once it is reaped.
func (s *localServer) kill() error {
	s.mu.Lock()
	old := s.p
	s.p = nil
	s.mu.Unlock()
	if old == nil {
		return errors.New("server already down")
	}
	old.kill()
	return nil
}

// restart starts the server again on its address. A killed server's port can stay bound for a
// while after the process is reaped (io_uring tears its ring down asynchronously, in a kernel
// worker that holds the ring's files, the listening socket among them): a bind refused with
// "address already in use" is retried every 20 ms for up to restartBindWait, and that wait is
// part of the time to recover.
func (s *localServer) restart(ctx context.Context) error {
	spec := s.spec
	spec.Addr = s.addr
	deadline := time.Now().Add(restartBindWait)
	p, err := s.host.start(ctx, spec)
	for err != nil && strings.Contains(err.Error(), "address already in use") && time.Now().Before(deadline) && sleepCtx(ctx, 20*time.Millisecond) {
		p, err = s.host.start(ctx, spec)
	}
	if err != nil {
		return fmt.Errorf("restarting the server: %w", err)
	}
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	return nil
}

// restartBindWait bounds the retries of a restart's bind on the killed server's port.
const restartBindWait = 10 * time.Second

func (s *localServer) Stop() error {
	if s.pc != nil {
		s.pc.finish()
		s.pc = nil
	}
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop()
}
