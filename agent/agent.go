package agent

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/iobench/iobench/harness"
)

// Config is one agent.
type Config struct {
	// Token every request must carry ("": none, allowed on loopback only; see New).
	Token string
	// Listen is the control address (for the loopback check and WireInfo.ServeHost).
	Listen string
	// ServeHost is the host servers listen on when a start request names no address
	// ("": the host of Listen).
	ServeHost string
	// Exe is the iobench binary run as `serve` (default os.Executable).
	Exe string
	// CPUs the agent was pinned to (--cpus; nil: not pinned), recorded in its Env.
	CPUs []int
	// Log receives one line per refused request and per server started or stopped.
	Log io.Writer
}

// goTimeout bounds the wait of a connected load share for its go.
const goTimeout = 60 * time.Second

// maxBody bounds every request body.
const maxBody = 1 << 20

// Agent serves the control protocol (doc.go).
type Agent struct {
	cfg   Config
	token [sha256.Size]byte
	hosts *harness.LocalServers
	ctx   context.Context
	stop  context.CancelFunc

	mu      sync.Mutex
	seq     int
	servers map[string]harness.Server
	loads   map[string]*loadJob
}

// ErrNoToken is New's refusal of a non-loopback agent without a token.
var ErrNoToken = errors.New("refusing to listen on a non-loopback address without a token: give --token or set IOBENCH_TOKEN (anyone who reaches the port could run processes)")

// IsLoopback reports whether the host of addr is a loopback address ("localhost" included;
// an empty or unspecified host listens on every interface and is not).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New checks cfg and returns the agent. A non-loopback Listen without a token is refused
// (ErrNoToken).
func New(cfg Config) (*Agent, error) {
	if cfg.Token == "" && !IsLoopback(cfg.Listen) {
		return nil, ErrNoToken
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.ServeHost == "" {
		if h, _, err := net.SplitHostPort(cfg.Listen); err == nil {
			cfg.ServeHost = h
		}
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the iobench binary: %w", err)
		}
		cfg.Exe = exe
	}
	ctx, stop := context.WithCancel(context.Background())
	a := &Agent{cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)), hosts: &harness.LocalServers{Exe: cfg.Exe},
		ctx: ctx, stop: stop, servers: map[string]harness.Server{}, loads: map[string]*loadJob{}}
	return a, nil
}

// Close cancels every load share and stops every server this agent started.
func (a *Agent) Close() {
	a.stop()
	a.mu.Lock()
	servers := maps.Clone(a.servers)
	clear(a.servers)
	jobs := maps.Clone(a.loads)
	a.mu.Unlock()
	for id, s := range servers {
		if err := s.Stop(); err != nil {
			fmt.Fprintf(a.cfg.Log, "agent: server %s: %v\n", id, err)
		}
	}
	for _, j := range jobs {
		j.cancel()
		<-j.done
	}
}

func (a *Agent) nextID(prefix string) string {
	a.seq++
	return fmt.Sprintf("%s%d", prefix, a.seq)
}

// Handler is the agent's HTTP handler: every route behind the token check.
func (a *Agent) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/info", a.info)
	m.HandleFunc("GET /v1/time", func(w http.ResponseWriter, r *http.Request) {
		reply(w, harness.WireTime{UnixNs: time.Now().UnixNano()})
	})
	m.HandleFunc("POST /v1/servers", a.startServer)
	m.HandleFunc("POST /v1/servers/{id}/{op}", a.serverOp)
	m.HandleFunc("GET /v1/servers/{id}/window", a.serverWindow)
	m.HandleFunc("POST /v1/loads", a.startLoad)
	m.HandleFunc("GET /v1/loads/{id}", a.loadState)
	m.HandleFunc("POST /v1/loads/{id}/{op}", a.loadOp)
	m.HandleFunc("DELETE /v1/loads/{id}", a.deleteLoad)
	return a.auth(m)
}

func (a *Agent) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			reason := "no token"
			if ok && got != "" {
				reason = "wrong token"
				sum := sha256.Sum256([]byte(got))
				if subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1 {
					reason = ""
				}
			}
			if reason != "" {
				fmt.Fprintf(a.cfg.Log, "agent: refused %s %s from %s: %s (401)\n", r.Method, r.URL.Path, r.RemoteAddr, reason)
				w.Header().Set("WWW-Authenticate", `Bearer realm="iobench agent"`)
				fail(w, http.StatusUnauthorized, errors.New(reason))
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

func reply(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func fail(w http.ResponseWriter, code int, err error) {
	b, _ := json.Marshal(harness.WireError{Error: err.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// decode reads r's JSON body into v strictly; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bad request body: %w", err)
	}
	return nil
}

func (a *Agent) info(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	ns, _ := os.Readlink("/proc/self/ns/net")
	env := harness.HostEnv()
	env.Pinning.ServerCPUs = a.cfg.CPUs
	reply(w, harness.WireInfo{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, PID: os.Getpid(),
		CPUs: len(harness.AllowedCPUs()), ServeHost: a.cfg.ServeHost, NetNS: ns, UnixNs: time.Now().UnixNano(), Env: &env})
}

func (a *Agent) startServer(w http.ResponseWriter, r *http.Request) {
	var spec harness.WireServerSpec
	if err := decode(r, &spec); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	if spec.Backend == "" {
		fail(w, http.StatusBadRequest, errors.New("no backend"))
		return
	}
	if spec.Addr == "" {
		spec.Addr = net.JoinHostPort(a.cfg.ServeHost, "0")
	}
	srv, err := a.hosts.Start(r.Context(), harness.ServerSpec{Backend: spec.Backend, Args: spec.Args, Addr: spec.Addr})
	if err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	a.mu.Lock()
	if a.ctx.Err() != nil { // closing: do not leave it behind
		a.mu.Unlock()
		srv.Stop()
		fail(w, http.StatusConflict, errors.New("agent stopping"))
		return
	}
	id := a.nextID("s")
	a.servers[id] = &probedServer{Server: srv}
	a.mu.Unlock()
	fmt.Fprintf(a.cfg.Log, "agent: server %s: %s on %s %s\n", id, spec.Backend, srv.Addr(), strings.Join(spec.Args, " "))
	reply(w, harness.WireServer{ID: id, Addr: srv.Addr(), PID: harness.ServerPID(srv)})
}

// lookup finds the entry {id} of the request's path in m (under a.mu), or answers 404.
func lookup[T comparable](a *Agent, w http.ResponseWriter, r *http.Request, kind string, m map[string]T) (string, T) {
	id := r.PathValue("id")
	a.mu.Lock()
	v := m[id]
	a.mu.Unlock()
	var zero T
	if v == zero {
		fail(w, http.StatusNotFound, fmt.Errorf("no %s %q", kind, id))
	}
	return id, v
}

func (a *Agent) server(w http.ResponseWriter, r *http.Request) (string, harness.Server) {
	return lookup(a, w, r, "server", a.servers)
}

func (a *Agent) serverOp(w http.ResponseWriter, r *http.Request) {
	id, s := a.server(w, r)
	if s == nil {
		return
	}
	var err error
	switch op := r.PathValue("op"); op {
	case "ready":
		var q struct {
			N         int           `json:"n"`
			TimeoutNs time.Duration `json:"timeout_ns"`
		}
		if err := decode(r, &q); err != nil || q.N < 0 || q.TimeoutNs <= 0 || q.TimeoutNs > 10*time.Minute {
			fail(w, http.StatusBadRequest, fmt.Errorf("want {n ≥ 0, 0 < timeout_ns ≤ 10 min}: %v", err))
			return
		}
		err = s.WaitReady(q.N, q.TimeoutNs)
	case "prepare":
		var q struct {
			Syscalls bool `json:"syscalls"`
		}
		if err := decode(r, &q); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		s.PrepareWindow(q.Syscalls)
	case "begin":
		s.BeginWindow()
	case "end":
		s.EndWindow()
	case "crash":
		err = s.Crash(a.ctx)
	case "stop":
		a.mu.Lock()
		delete(a.servers, id)
		a.mu.Unlock()
		err = s.Stop()
		fmt.Fprintf(a.cfg.Log, "agent: server %s stopped\n", id)
	default:
		fail(w, http.StatusNotFound, fmt.Errorf("unknown server operation %q", op))
		return
	}
	if err != nil {
		fail(w, http.StatusConflict, err)
		return
	}
	reply(w, struct{}{})
}

func (a *Agent) serverWindow(w http.ResponseWriter, r *http.Request) {
	if _, s := a.server(w, r); s != nil {
		reply(w, harness.WireProbesOf(s.Window()))
	}
}

// probedServer adds the TCP retransmits of the agent's network namespace over each window to
// a server's probes (harness.TCPRetransSegs at the window's edges).
type probedServer struct {
	harness.Server
	before, after     uint64
	beforeOK, afterOK bool
}

func (p *probedServer) PrepareWindow(syscalls bool) {
	p.beforeOK, p.afterOK = false, false
	p.Server.PrepareWindow(syscalls)
}

func (p *probedServer) BeginWindow() {
	p.Server.BeginWindow()
	n, err := harness.TCPRetransSegs()
	p.before, p.beforeOK = n, err == nil
}

func (p *probedServer) EndWindow() {
	n, err := harness.TCPRetransSegs()
	p.after, p.afterOK = n, err == nil
	p.Server.EndWindow()
}

func (p *probedServer) Window() harness.WindowProbes {
	w := p.Server.Window()
	if p.beforeOK && p.afterOK && p.after >= p.before {
		n := p.after - p.before
		w.TCPRetransmits = &n
	}
	return w
}
