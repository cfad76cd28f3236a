package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/iobench/iobench/results"
)

// AgentClient is the coordinator's end of one agent's control protocol (agent/doc.go).
type AgentClient struct {
	Addr  string // HOST:PORT of the agent
	Token string
	hc    *http.Client
}

// NewAgentClient returns a client of the agent at addr.
func NewAgentClient(addr, token string) (*AgentClient, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("agent address %q: %v", addr, err)
	}
	return &AgentClient{Addr: addr, Token: token, hc: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
	}}}, nil
}

// AgentError is an error response of an agent.
type AgentError struct {
	Agent  string
	Status int
	Msg    string
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent %s: %d %s: %s", e.Agent, e.Status, http.StatusText(e.Status), e.Msg)
}

// Do sends one request (in, when not nil, as its JSON body) and decodes the reply into out
// (when not nil). Every request is bounded by timeout (and ctx).
func (c *AgentClient) Do(ctx context.Context, method, path string, timeout time.Duration, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", c.Addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("agent %s: %s %s: %w", c.Addr, method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e WireError
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(data))
		}
		return &AgentError{Agent: c.Addr, Status: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("agent %s: %s %s: bad reply: %w", c.Addr, method, path, err)
		}
	}
	return nil
}

// quick is the bound of a control request that does no waiting on the agent's side.
const quick = 15 * time.Second

// Info asks the agent about its host.
func (c *AgentClient) Info(ctx context.Context) (WireInfo, error) {
	var i WireInfo
	err := c.Do(ctx, http.MethodGet, "/v1/info", quick, nil, &i)
	return i, err
}

// ClockOffset estimates the agent's clock offset (agent − this host) as NTP does: of n reads
// of its clock, the one with the smallest round trip, offset = agent time − midpoint of the
// round trip; the error is at most rtt/2.
func (c *AgentClient) ClockOffset(ctx context.Context, n int) (offset, rtt time.Duration, err error) {
	rtt = -1
	for range max(n, 1) {
		var t WireTime
		t0 := time.Now()
		if err := c.Do(ctx, http.MethodGet, "/v1/time", quick, nil, &t); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		if d := t1.Sub(t0); rtt < 0 || d < rtt {
			rtt = d
			mid := t0.UnixNano() + d.Nanoseconds()/2
			offset = time.Duration(t.UnixNs - mid)
		}
	}
	return offset, rtt, nil
}

// RemoteServers starts the servers under test on a server agent (ServerHost). Their
// addresses are as the agent reports them, with an unspecified host (0.0.0.0, ::) replaced by
// the agent's own host.
type RemoteServers struct {
	Agent *AgentClient
	// CPUs the agent's servers may run on (its core share for the bottleneck rule; 0:
	// unknown) and the agent's host (the run's Env).
	CPUs int
	Env  *results.Env
}

var (
	_ ServerHost = (*RemoteServers)(nil)
	_ Server     = (*remoteServer)(nil)
)

// Start implements ServerHost. spec.Addr is not used: a local address means nothing on the
// agent's host, which listens on its --serve-host.
func (h *RemoteServers) Start(ctx context.Context, spec ServerSpec) (Server, error) {
	var ws WireServer
	err := h.Agent.Do(ctx, http.MethodPost, "/v1/servers", 30*time.Second,
		WireServerSpec{Backend: spec.Backend, Args: spec.Args}, &ws)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(ws.Addr)
	if err != nil {
		return nil, fmt.Errorf("agent %s: server address %q: %v", h.Agent.Addr, ws.Addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		agentHost, _, _ := net.SplitHostPort(h.Agent.Addr)
		ws.Addr = net.JoinHostPort(agentHost, port)
	}
	return &remoteServer{c: h.Agent, ws: ws}, nil
}

// remoteServer is one server under test on a server agent. The probe calls have no error
// result (Server's contract); a failed one leaves its probes null and says why in Window.
type remoteServer struct {
	c    *AgentClient
	ws   WireServer
	perr error
}

func (s *remoteServer) path(op string) string {
	return "/v1/servers/" + url.PathEscape(s.ws.ID) + "/" + op
}

func (s *remoteServer) post(op string, in any) error {
	return s.c.Do(context.Background(), http.MethodPost, s.path(op), quick, in, nil)
}

func (s *remoteServer) Addr() string { return s.ws.Addr }

func (s *remoteServer) WaitReady(n int, timeout time.Duration) error {
	return s.c.Do(context.Background(), http.MethodPost, s.path("ready"), timeout+quick,
		map[string]any{"n": n, "timeout_ns": timeout}, nil)
}

func (s *remoteServer) PrepareWindow(syscalls bool) {
	s.perr = s.post("prepare", map[string]bool{"syscalls": syscalls})
}

func (s *remoteServer) BeginWindow() {
	if err := s.post("begin", nil); err != nil && s.perr == nil {
		s.perr = err
	}
}

func (s *remoteServer) EndWindow() {
	if err := s.post("end", nil); err != nil && s.perr == nil {
		s.perr = err
	}
}

func (s *remoteServer) Window() WindowProbes {
	var w WireProbes
	err := s.c.Do(context.Background(), http.MethodGet, s.path("window"), quick, nil, &w)
	if err == nil {
		err = s.perr
	}
	if err != nil {
		return WindowProbes{SyscallsErr: fmt.Errorf("server probes: %w", err)}
	}
	return w.Probes()
}

func (s *remoteServer) Crash(ctx context.Context) error {
	return s.c.Do(ctx, http.MethodPost, s.path("crash"), 30*time.Second, nil, nil)
}

func (s *remoteServer) Stop() error {
	err := s.c.Do(context.Background(), http.MethodPost, s.path("stop"), 30*time.Second, nil, nil)
	var ae *AgentError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil // already gone (the agent stopped it)
	}
	return err
}
