package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The variant scenarios (logging, crypto; results/variants.go) run an app beside its plain
// counterpart: a workload with Plain set doubles the run's labels for its duration, each
// backend once as itself with the variant's app and once with Plain's app and the framed
// protocol. Both sides are ordinary labels of the same rounds (interleaved, rotated, each on
// its own server), and the capacity probe and the ladder span both, so the ladder's rates are
// one common capacity of every backend and both apps: the variant is measured at exactly the
// offered load of its plain counterpart, and the report reads the added server CPU per
// message and the latency change from the pair.

// protoCrypto is the load generator's crypto protocol (proto.CryptoClient): a handshake per
// connection, then framed frames sealed with AES-GCM; every reply is opened and verified. It
// is not one of proto.Names: `iobench load` speaks only the plain protocols.
const protoCrypto proto.Name = "crypto"

// loadMinSize is the smallest message of protocol n.
func loadMinSize(n proto.Name) int {
	if n == protoCrypto {
		return proto.CryptoMinSize
	}
	return proto.MinSize(n)
}

// workload is w as label l runs it: the plain side replaces the app and the protocol.
func (l label) workload(w Workload) Workload {
	if l.App != "" {
		w.App, w.Proto = l.App, l.Proto
	}
	return w
}

// key names l among the labels of a variant workload (capacities, progress): the plain side
// is "uring/framed", the variant side its label.
func (l label) key() string {
	if l.App != "" {
		return l.Name + "/" + l.App
	}
	return l.Name
}

// capKey is the key of result r's label, as label.key.
func capKey(r *results.Result) string {
	if _, ok := results.Variants[r.Scenario]; ok && !results.IsVariant(r) {
		return r.Name() + "/" + r.Proto
	}
	return r.Name()
}

// pairLabels doubles the run's labels for variant workload w (each label, then its plain
// side) and returns the function restoring them.
func (r *runner) pairLabels(w Workload) func() {
	orig := r.labels
	var ls []label
	for _, l := range orig {
		plain := l
		plain.App, plain.Proto = w.Plain, proto.Framed
		ls = append(ls, l, plain)
	}
	r.labels = ls
	return func() { r.labels = orig }
}

// logArgs are the serve flags of the logging app: its log file inside the run folder, one per
// server, removed once its lines are counted (RunConfig.KeepLogs keeps them).
func (r *runner) logArgs(w Workload) []string {
	if w.App != "logging" {
		return nil
	}
	dir := filepath.Join(r.cfg.Out, "logs")
	os.MkdirAll(dir, 0o755) // an error shows as the server's
	r.logN++
	return []string{"--log", filepath.Join(dir, fmt.Sprintf("server-%d.log", r.logN))}
}

// statsServer is a Server whose own account can be read at any time (LocalServers').
type statsServer interface {
	ServerStats() (ServerStats, error)
	logPath() string
}

var _ statsServer = (*localServer)(nil)

// ServerStats asks the server for its account now.
func (s *localServer) ServerStats() (ServerStats, error) {
	p := s.proc()
	if p == nil {
		return ServerStats{}, errors.New("server down")
	}
	return p.stats()
}

// logPath is the server's --log file, "" without one.
func (s *localServer) logPath() string {
	for i, a := range s.spec.Args {
		if a == "--log" && i+1 < len(s.spec.Args) {
			return s.spec.Args[i+1]
		}
	}
	return ""
}

// logCounts reads the logging server's log counters after a load has drained and records
// their change over the load in f.Log. Every message sent was received and answered (the
// load verified that), so the server offered exactly one line per message: lines offered must
// equal the messages sent, each one written or dropped and counted.
func (r *runner) logCounts(srv Server, w Workload, res *LoadResult, f *results.Figures) error {
	ss, ok := srv.(statsServer)
	if w.App != "logging" || !ok {
		return nil
	}
	st, err := ss.ServerStats()
	if err != nil {
		return fmt.Errorf("log counters: %w", err)
	}
	cur := results.LogCounts{Appended: st.AppStats["log_appended"], Written: st.AppStats["log_written"], Dropped: st.AppStats["log_dropped"]}
	if r.logSeen == nil {
		r.logSeen = map[Server]results.LogCounts{}
	}
	prev := r.logSeen[srv]
	r.logSeen[srv] = cur
	d := results.LogCounts{Appended: cur.Appended - prev.Appended, Written: cur.Written - prev.Written, Dropped: cur.Dropped - prev.Dropped}
	f.Log = &d
	if d.Dropped > 0 {
		f.Note = joinNote(f.Note, fmt.Sprintf("log: %d of %d lines dropped (the disk did not keep up; counted, the echo went on)", d.Dropped, d.Appended))
	}
	if d.Appended != res.Verify.Sent {
		return fmt.Errorf("log: %d lines offered for %d messages sent", d.Appended, res.Verify.Sent)
	}
	return nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// stopServer stops srv and, for a logging server, counts its log file's lines: every line
// offered and not dropped must be in the file (written + dropped = offered = messages). The
// file is removed when it checks out, unless RunConfig.KeepLogs.
func (r *runner) stopServer(srv Server) error {
	err := srv.Stop()
	ss, ok := srv.(statsServer)
	if !ok || ss.logPath() == "" {
		return err
	}
	path := ss.logPath()
	seen, measured := r.logSeen[srv]
	delete(r.logSeen, srv)
	if err != nil {
		return err
	}
	lines, err := countLines(path)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if measured && lines != seen.Appended-seen.Dropped {
		return fmt.Errorf("log %s: %d lines in the file, want %d (%d offered - %d dropped); file kept", path, lines, seen.Appended-seen.Dropped, seen.Appended, seen.Dropped)
	}
	if !r.cfg.KeepLogs {
		os.Remove(path)
	}
	return nil
}

// countLines counts the newlines in the file at path.
func countLines(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n uint64
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// serveLog is `serve --proto logging`'s log file: opened through the engine's own completion
// mechanism where it has one (models.OpenLog), checked at exit (the lines added to the file
// are the lines the log says it wrote) and, when it is the default temp file, removed.
type serveLog struct {
	f      models.LogFile
	path   string
	before uint64 // lines in the file before this server appended
	temp   bool   // a temp file of ours: removed at exit unless keep
	keep   bool
	closed bool
}

func openServeLog(eng models.Engine, path string, keep bool) (*serveLog, error) {
	l := &serveLog{path: path, keep: keep}
	if path == "" {
		f, err := os.CreateTemp("", "iobench-serve-*.log")
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		f.Close()
		l.path, l.temp = f.Name(), true
	} else if n, err := countLines(path); err == nil {
		l.before = n
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("log: %w", err)
	}
	f, err := models.OpenLog(eng, l.path, models.LogOptions{})
	if err != nil {
		l.remove()
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *serveLog) remove() {
	if l.temp && !l.keep {
		os.Remove(l.path)
	}
}

// close flushes and closes the log, says what it counted on w and checks the file.
func (l *serveLog) close(w io.Writer) error {
	l.closed = true
	defer l.remove()
	st, err := l.f.Close()
	fmt.Fprintf(w, "log %s: %d lines offered, %d written, %d dropped, %d writes, %d write errors\n",
		l.path, st.Appended, st.Written, st.Dropped, st.WriteCalls, st.WriteErrors)
	if err != nil {
		return err
	}
	n, err := countLines(l.path)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if n-l.before != st.Written || st.Written+st.Dropped != st.Appended {
		return fmt.Errorf("log %s: %d lines added to the file, the log wrote %d and dropped %d of %d", l.path, n-l.before, st.Written, st.Dropped, st.Appended)
	}
	return nil
}

// abort closes the log on an early exit.
func (l *serveLog) abort() {
	if !l.closed {
		l.f.Close()
		l.remove()
	}
}
