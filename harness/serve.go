package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
)

// ServeConfig is what `iobench serve` runs: one backend serving one app on one address.
type ServeConfig struct {
	Backend    string
	App        string // echo, framed, sockperf, broadcast
	Addr       string
	GOMAXPROCS int // 0 leaves the runtime's default
	Engine     models.Config
	AppOptions apps.Options
	// Control reads commands from Stdin: "stats" prints one ServerStats JSON line on Stdout,
	// "quit" stops the server. The harness uses it to sample the server's own counters at the
	// edges of a measurement window.
	Control bool
	// IdleTimeout kicks a session that completes no frame for this long (0 = off, the
	// default: benchmarks are unaffected). See models.ServiceOptions.IdleTimeout.
	IdleTimeout time.Duration
	// Hardened applies HardenedPreset to the flags not given explicitly (ServeCmd does).
	Hardened bool
	// Leak, when positive, makes the app leak a goroutine and 4 KiB every Leak-th OnRecv
	// (leakyApp): the soak's proof that it fails on a leak. Never for measurements.
	Leak int
	// LogPath is the logging app's log file ("" = a temp file, removed at exit unless
	// KeepLog); see serveLog.
	LogPath string
	KeepLog bool

	// wrapApp, set by tests only, wraps the app's handler (e.g. to delay its OnConnect).
	wrapApp func(models.Handler) models.Handler
}

// HardenedPreset is what `serve --hardened` sets, for a server facing untrusted clients
// rather than a benchmark: an idle/handshake timeout (a silent connection or a slowloris
// cannot hold a pool slot), a frame bound well under the RecvBuffer (a bogus length is
// refused at once instead of after 64 KiB), and a smaller send-queue bound (a peer that
// never reads costs 1 MiB, not 4 MiB: 4 GiB, not 16 GiB, for a full default pool of
// 4096). Flags given explicitly win over the preset.
var HardenedPreset = []struct{ Flag, Value string }{
	{"idle-timeout", "30s"},
	{"max-frame", "16384"},
	{"send-queue", "1048576"},
}

func hardenedHelp() string {
	var parts []string
	for _, p := range HardenedPreset {
		parts = append(parts, "--"+p.Flag+" "+p.Value)
	}
	return "preset for untrusted clients: " + strings.Join(parts, ", ") + " (explicit flags win)"
}

// ServerStats is the server's view of itself, printed as one JSON line per "stats" command.
type ServerStats struct {
	Backend    string `json:"backend"`
	App        string `json:"app"`
	GCCycles   uint32 `json:"gc_cycles"`
	GCPauseNs  uint64 `json:"gc_pause_ns"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Loops      int    `json:"loops"`
	// CPUNs is the server process's own user+system CPU time (getrusage-like, from the
	// process itself), null where the platform gives none. The harness prefers its outside
	// view (/proc/PID/stat) and falls back to this one where that is unavailable or wrong
	// (under Wine, GetProcessTimes on another process returns the caller's times).
	CPUNs *int64 `json:"cpu_ns"`
	// Ready counts the sessions the app has: their OnConnect has returned and their
	// OnDisconnect has not. The pool's live count (Service.Live) grows when a slot is taken,
	// before OnConnect runs (netstd runs it in the session's own goroutine, which may be
	// scheduled much later), so only Ready says that, e.g., every broadcast room is complete.
	Ready   int64               `json:"app_ready"`
	Service models.ServiceStats `json:"service"`
	// AppStats are the app's own counters (apps.Reporter), e.g. the logging app's log_*.
	AppStats map[string]uint64 `json:"app_stats,omitempty"`
}

// readyApp wraps the app to count Ready sessions (see ServerStats.Ready). Every backend's
// app is wrapped alike; the wrapper adds one call per callback, nothing per byte.
type readyApp struct {
	models.Handler
	ready atomic.Int64
}

func (a *readyApp) OnConnect(s models.Session) {
	a.Handler.OnConnect(s)
	a.ready.Add(1)
}

func (a *readyApp) OnDisconnect(s models.Session, r models.KickReason) {
	a.Handler.OnDisconnect(s, r)
	a.ready.Add(-1)
}

// ServeFlags registers serve's flags on fs and returns the config they fill.
func ServeFlags(fs *flag.FlagSet) *ServeConfig {
	c := &ServeConfig{}
	fs.StringVar(&c.Backend, "backend", "netstd", "backend name (see `iobench backends`)")
	fs.StringVar(&c.App, "proto", "echo", "protocol/app: echo, framed, sockperf or broadcast")
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:0", "listen address HOST:PORT (port 0 picks a free port)")
	fs.IntVar(&c.GOMAXPROCS, "gomaxprocs", 0, "GOMAXPROCS for the server process (0 = runtime default)")
	fs.IntVar(&c.Engine.Loops, "loops", 0, "event loops / completion threads (0 = GOMAXPROCS)")
	fs.IntVar(&c.Engine.PoolSize, "pool", 0, "session pool capacity (0 = default)")
	fs.IntVar(&c.Engine.RecvBufferSize, "recv-buffer", 0, "RecvBuffer bytes per session (0 = 64 KiB)")
	fs.IntVar(&c.Engine.SendQueueLimit, "send-queue", 0, "send queue bound in bytes per session (0 = 4 MiB)")
	fs.IntVar(&c.AppOptions.MaxFrame, "max-frame", 0, "largest frame accepted (0 = RecvBuffer size)")
	fs.IntVar(&c.AppOptions.RoomSize, "room", 8, "broadcast room size")
	fs.BoolVar(&c.Control, "control", false, "read control commands (stats, quit) from stdin")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "kick a session that completes no frame for this long, also a new connection that sends nothing (0 = off; kicks come within +25%)")
	fs.BoolVar(&c.Hardened, "hardened", false, hardenedHelp())
	fs.IntVar(&c.Leak, "leak", 0, "testing only: leak a goroutine and 4 KiB every N-th receive (proves the soak fails on a leak; never for measurements)")
	fs.StringVar(&c.LogPath, "log", "", "--proto logging: the log file to append to (default: a temp file, removed at exit unless --keep-log)")
	fs.BoolVar(&c.KeepLog, "keep-log", false, "--proto logging: keep the default temp log file at exit")
	return c
}

// ParseServe parses serve's flags, applying HardenedPreset under --hardened.
func ParseServe(args []string, stderr io.Writer) (*ServeConfig, error) {
	fs := cli.NewFlagSet("serve", stderr)
	c := ServeFlags(fs)
	if err := cli.Parse(fs, args, false); err != nil {
		return nil, err
	}
	if c.Hardened {
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		for _, p := range HardenedPreset {
			if !explicit[p.Flag] {
				if err := fs.Set(p.Flag, p.Value); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}

// ServeCmd is `iobench serve`.
func ServeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := ParseServe(args, stderr)
	if err != nil {
		return err
	}
	return Serve(ctx, *c, os.Stdin, stdout, stderr)
}

// Serve runs the server until ctx ends (SIGINT/SIGTERM in the command) or "quit" arrives on
// the control input. Its first stdout line is "listening on HOST:PORT". Bad configuration,
// an unknown or unavailable backend, a bad address and a port in use are usage errors.
func Serve(ctx context.Context, c ServeConfig, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return cli.Usagef("bad --addr %q: %v", c.Addr, err)
	}
	if c.GOMAXPROCS < 0 {
		return cli.Usagef("bad --gomaxprocs %d", c.GOMAXPROCS)
	}
	if c.IdleTimeout < 0 {
		return cli.Usagef("bad --idle-timeout %v", c.IdleTimeout)
	}
	if c.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(c.GOMAXPROCS)
	}
	if c.AppOptions.MaxFrame == 0 {
		c.AppOptions.MaxFrame = c.Engine.RecvBufferSize
	}
	if !contains(apps.Names, c.App) {
		_, err := apps.New(c.App, c.AppOptions)
		return cli.Usage(err)
	}
	if c.Leak < 0 {
		return cli.Usagef("bad --leak %d", c.Leak)
	}
	cfg, err := c.Engine.WithDefaults()
	if err != nil {
		return cli.Usage(err)
	}
	eng, err := models.Open(c.Backend, cfg)
	if err != nil {
		return cli.Usage(err)
	}
	defer eng.Close()
	var lg *serveLog
	if c.App == "logging" {
		if lg, err = openServeLog(eng, c.LogPath, c.KeepLog); err != nil {
			return cli.Failure(err)
		}
		defer lg.abort()
		c.AppOptions.Log = lg.f
	}
	inner, err := apps.New(c.App, c.AppOptions)
	if err != nil {
		return cli.Usage(err)
	}
	if c.wrapApp != nil {
		inner = c.wrapApp(inner)
	}
	inner = newLeakyApp(inner, c.Leak)
	app := &readyApp{Handler: inner}
	svc, err := eng.Listen(c.Addr, app, models.ServiceOptions{IdleTimeout: c.IdleTimeout})
	if err != nil {
		return cli.Usage(err)
	}
	if _, err := fmt.Fprintf(stdout, "listening on %s\n", svc.Addr()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outMu sync.Mutex
	if c.Control {
		go func() {
			sc := bufio.NewScanner(stdin)
			for sc.Scan() {
				switch cmd := strings.TrimSpace(sc.Text()); cmd {
				case "stats":
					st := serverStats(c, cfg, svc, app)
					b, _ := json.Marshal(st)
					outMu.Lock()
					fmt.Fprintf(stdout, "%s\n", b)
					outMu.Unlock()
				case "quit":
					cancel()
					return
				case "":
				default:
					fmt.Fprintf(stderr, "serve: unknown control command %q (want stats or quit)\n", cmd)
				}
			}
			// Control input closed: the parent is gone, stop rather than linger.
			cancel()
		}()
	}
	<-ctx.Done()
	if err := svc.Close(); err != nil && !errors.Is(err, models.ErrClosed) {
		return err
	}
	if lg != nil {
		if err := lg.close(stderr); err != nil {
			return cli.Failure(err)
		}
	}
	return eng.Close()
}

func serverStats(c ServeConfig, cfg models.Config, svc models.Service, app *readyApp) ServerStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var cpu *int64
	if d, err := selfCPU(); err == nil {
		ns := d.Nanoseconds()
		cpu = &ns
	}
	st := ServerStats{
		Backend: c.Backend, App: c.App, CPUNs: cpu,
		GCCycles: ms.NumGC, GCPauseNs: ms.PauseTotalNs, HeapInuse: ms.HeapInuse,
		Goroutines: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0), Loops: cfg.Loops,
		Ready: app.ready.Load(), Service: svc.Stats(),
	}
	if rp, ok := app.Handler.(apps.Reporter); ok {
		st.AppStats = rp.AppStats()
	}
	return st
}

// BackendsCmd is `iobench backends`: every backend, available or not, and why.
func BackendsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("backends", stderr)
	if err := cli.Parse(fs, args, false); err != nil {
		return err
	}
	for _, b := range models.Backends() {
		status := "available"
		if err := b.Available(); err != nil {
			status = "unavailable: " + err.Error()
		} else if b.Note != "" {
			status += " (" + b.Note + ")"
		}
		fmt.Fprintf(stdout, "%-8s %s\n         %s\n", b.Name, status, b.Summary)
	}
	return nil
}
