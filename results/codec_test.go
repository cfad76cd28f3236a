package results_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/iobench/iobench/results"
	"github.com/iobench/iobench/results/resultstest"
)

var fixtureCache sync.Map // resultstest.Host -> []byte (JSON)

// fixture returns a fresh copy of the synthetic run of host; with dir set its HDR logs are
// written there (generated anew), otherwise a cached encoding is decoded (fast under -race).
func fixture(t testing.TB, host resultstest.Host, dir string) *results.Run {
	t.Helper()
	if dir != "" {
		run, err := resultstest.Run(host, dir)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	data, ok := fixtureCache.Load(host)
	if !ok {
		run, err := resultstest.Run(host, "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		data, _ = fixtureCache.LoadOrStore(host, b)
	}
	var run results.Run
	if err := json.Unmarshal(data.([]byte), &run); err != nil {
		t.Fatal(err)
	}
	return &run
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	run := fixture(t, resultstest.Linux, dir)
	if err := results.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	runs, errs := results.ReadDir(dir)
	if len(errs) != 0 || len(runs) != 1 {
		t.Fatalf("ReadDir: %d runs, errs %v", len(runs), errs)
	}
	got := runs[0].Run
	if len(got.Results) != len(run.Results) || got.Env.Hostname != "bench-linux" {
		t.Fatalf("round trip lost data: %d results, env %+v", len(got.Results), got.Env)
	}
	// n/a survives as null, not 0.
	data, _ := os.ReadFile(filepath.Join(dir, results.RunFileName))
	if !bytes.Contains(data, []byte(`"schema_version": "iobench/results/v1"`)) {
		t.Fatal("schema_version missing from file")
	}
	w := fixture(t, resultstest.Windows, "")
	if w.Results[0].Server.SyscallsPerMsg != nil {
		t.Fatal("fixture: windows syscalls should be n/a")
	}
	if err := results.WriteRunFile(filepath.Join(dir, "win.json"), w); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "win.json"))
	if !bytes.Contains(data, []byte(`"syscalls_per_msg": null`)) {
		t.Fatal("unmeasured syscalls_per_msg not written as null")
	}
	runs, errs = results.ReadDir(dir)
	if len(errs) != 0 || len(runs) != 2 {
		t.Fatalf("ReadDir two files: %d runs, errs %v", len(runs), errs)
	}
	if runs[1].Run.Results[0].Server.SyscallsPerMsg != nil {
		t.Fatal("null read back as a value")
	}
}

func TestValidate(t *testing.T) {
	good := func() *results.Run { return fixture(t, resultstest.Linux, "") }
	cases := []struct {
		name  string
		edit  func(*results.Run)
		field string
	}{
		{"version", func(r *results.Run) { r.SchemaVersion = "iobench/results/v0" }, "schema_version"},
		{"backend", func(r *results.Run) { r.Results[2].Backend = "" }, "results[2].backend"},
		{"scenario missing", func(r *results.Run) { r.Results[1].Scenario = "" }, "results[1].scenario"},
		{"scenario unknown", func(r *results.Run) { r.Results[1].Scenario = "echo" }, "results[1].scenario"},
		{"mode", func(r *results.Run) { r.Results[0].Mode = "fast" }, "results[0].mode"},
		{"bottleneck", func(r *results.Run) { r.Results[0].Repetitions[1].Bottleneck = "cpu" }, "results[0].repetitions[1].bottleneck"},
		{"NaN headline", func(r *results.Run) { r.Results[0].MsgsPerSec = results.Val(math.NaN()) }, "results[0].msgs_per_sec: NaN"},
		{"Inf nested", func(r *results.Run) { r.Results[0].Repetitions[2].Latency.P99 = results.Val(math.Inf(1)) },
			"results[0].repetitions[2].latency_ns.p99: +Inf"},
		{"NaN sweep", func(r *results.Run) {
			for i := range r.Results {
				if r.Results[i].Sweep != nil {
					r.Results[i].Sweep.SLONs = math.NaN()
					return
				}
			}
		}, ".sweep.slo_ns: NaN"},
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("fixture invalid: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.edit(r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Validate = %v, want error naming %q", err, c.field)
			}
			var fe *results.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FieldError: %T", err)
			}
			if werr := results.WriteRun(t.TempDir(), r); werr == nil {
				t.Fatal("WriteRun accepted an invalid run")
			}
		})
	}
}

func TestReadDirBadFiles(t *testing.T) {
	dir := t.TempDir()
	if err := results.WriteRun(dir, fixture(t, resultstest.Linux, "")); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("future.json", `{"schema_version":"iobench/results/v9","results":[]}`)
	write("nan.json", `{"schema_version":"iobench/results/v1","results":[{"backend":"x","scenario":"pingpong","mode":"closed","msgs_per_sec":NaN}]}`)
	write("nobackend.json", `{"schema_version":"iobench/results/v1","results":[{"scenario":"pingpong","mode":"closed"}]}`)
	write("other-tool.json", `{"hello":"world"}`) // not ours: ignored
	runs, errs := results.ReadDir(dir)
	if len(runs) != 1 || runs[0].Path != filepath.Join(dir, "run.json") {
		t.Fatalf("good file not read: %d runs", len(runs))
	}
	want := map[string]string{
		"future.json":    "unknown schema version",
		"nan.json":       "NaN",
		"nobackend.json": "results[0].backend: missing",
	}
	if len(errs) != len(want) {
		t.Fatalf("errs = %v, want %d", errs, len(want))
	}
	for _, err := range errs {
		var fe *results.FileError
		if !errors.As(err, &fe) {
			t.Fatalf("%v is not a FileError", err)
		}
		sub, ok := want[filepath.Base(fe.Path)]
		if !ok || !strings.Contains(err.Error(), sub) {
			t.Fatalf("unexpected error %v", err)
		}
	}

	empty := t.TempDir()
	_, errs = results.ReadDir(empty)
	if len(errs) != 1 || !errors.Is(errs[0], results.ErrNoRuns) || !strings.Contains(errs[0].Error(), empty) {
		t.Fatalf("empty folder: %v", errs)
	}
}

func TestSummarize(t *testing.T) {
	r := results.Result{Backend: "b", Scenario: "pingpong", Mode: "closed"}
	for i, v := range []float64{300, 100, 200} {
		f := results.Figures{DurationNs: 10, MsgsPerSec: results.Val(v),
			Server:     &results.ServerMetrics{CPUNsPerMsg: results.Val(v / 100)},
			Verify:     &results.Verify{Sent: 10, Received: 10},
			Bottleneck: []string{"client", "client", "server"}[i]}
		r.Repetitions = append(r.Repetitions, results.Rep{Index: i, Figures: f})
	}
	r.Repetitions = append(r.Repetitions, results.Rep{Index: 3, Error: "verification failed",
		Figures: results.Figures{MsgsPerSec: results.Val(1e9), Verify: &results.Verify{Sent: 5, Lost: 1}}})
	results.Summarize(&r)
	if *r.MsgsPerSec != 200 || *r.Server.CPUNsPerMsg != 2 || r.Reps != 4 {
		t.Fatalf("medians: %v %v reps %d", *r.MsgsPerSec, *r.Server.CPUNsPerMsg, r.Reps)
	}
	if r.Server.SyscallsPerMsg != nil || r.Latency != nil {
		t.Fatal("unmeasured metric became a value")
	}
	if r.Verify.Sent != 35 || r.Verify.Lost != 1 || r.Verify.OK() {
		t.Fatalf("verify not summed: %+v", r.Verify)
	}
	if r.Bottleneck != "client" {
		t.Fatalf("bottleneck majority = %q", r.Bottleneck)
	}
	if s := r.Spread.MsgsPerSec; s.Min != 100 || s.Max != 300 || s.N != 3 {
		t.Fatalf("spread %+v", s)
	}
}

func TestHDRLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	run := fixture(t, resultstest.Linux, dir)
	var open *results.Result
	for i := range run.Results {
		if run.Results[i].HDRLog != "" {
			open = &run.Results[i]
			break
		}
	}
	if open == nil {
		t.Fatal("fixture has no HDR log")
	}
	hs, err := results.ReadHDRLogFile(filepath.Join(dir, open.HDRLog))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 30 || hs[0].TotalCount() != 1500 {
		t.Fatalf("read %d intervals, first count %d", len(hs), hs[0].TotalCount())
	}
	tl := results.TimelineFromIntervals(run.Started.UnixMilli(), hs)
	if len(tl) != 30 || tl[0].TNs != 1e9 || tl[29].TNs != 30e9 {
		t.Fatalf("timeline from log: len %d first %v last %v", len(tl), tl[0].TNs, tl[len(tl)-1].TNs)
	}
	for i := range tl {
		if tl[i] != open.LatencyTimeline[i] {
			t.Fatalf("timeline from log differs from recorded at %d: %+v vs %+v", i, tl[i], open.LatencyTimeline[i])
		}
	}
	all := results.MergeHistograms(hs)
	sp := results.Spectrum(all)
	if sp[0].Percentile != 50 || sp[len(sp)-1].Percentile != 100 {
		t.Fatalf("spectrum ends %v..%v", sp[0].Percentile, sp[len(sp)-1].Percentile)
	}
	for i := 1; i < len(sp); i++ {
		if sp[i].ValueNs < sp[i-1].ValueNs {
			t.Fatalf("spectrum not monotone at %d", i)
		}
	}
	if _, err := results.ReadHDRLog(strings.NewReader("#[StartTime: 1]\n")); err == nil {
		t.Fatal("empty log accepted")
	}
}

func TestBenchFormat(t *testing.T) {
	var buf bytes.Buffer
	run := fixture(t, resultstest.Windows, "")
	if err := results.WriteBench(&buf, run); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"goos: windows\n", "host: bench-win (windows, wine)\n",
		"BenchmarkIO/backend=iocp/scenario=pingpong/proto=echo/conns=100/size=64/depth=1/mode=closed ",
		" msgs/s ", " server-cpu-ns/msg",
		"# skipped BenchmarkIO/backend=rio/scenario=pingpong",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench output lacks %q:\n%s", want, out[:min(len(out), 2000)])
		}
	}
	if strings.Contains(out, "syscalls/msg") {
		t.Fatal("n/a syscalls written as a value")
	}
	if n := strings.Count(out, "backend=iocp/scenario=pingpong/proto=echo/conns=100/size=64/depth=1/mode=closed "); n != 3 {
		t.Fatalf("want one line per repetition (3), got %d", n)
	}
	t.Run("interrupted repetition left out", func(t *testing.T) {
		run := fixture(t, resultstest.Windows, "")
		var r *results.Result
		for i := range run.Results {
			if run.Results[i].Skipped == "" && len(run.Results[i].Repetitions) > 0 {
				r = &run.Results[i]
				break
			}
		}
		r.Repetitions[0].Interrupted = true
		var buf bytes.Buffer
		if err := results.WriteBench(&buf, run); err != nil {
			t.Fatal(err)
		}
		name := results.BenchName(r)
		if got, want := strings.Count(buf.String(), "\n"+name+" "), len(r.Repetitions)-1; got != want {
			t.Fatalf("%d benchmark lines for %s, want %d (the interrupted one left out):\n%s", got, name, want, buf.String())
		}
		if !strings.Contains(buf.String(), "# interrupted "+name+" rep ") {
			t.Fatal("interrupted repetition not named")
		}
	})

	bs, err := exec.LookPath("benchstat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("benchstat not on PATH, but CI=true requires it (.ci/run installs it)")
		}
		t.Skip("benchstat not installed (go install golang.org/x/perf/cmd/benchstat@latest): format checked textually only")
	}
	var lin bytes.Buffer
	if err := results.WriteBench(&lin, fixture(t, resultstest.Linux, "")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "linux.txt")
	os.WriteFile(f, lin.Bytes(), 0o644)
	cmd := exec.Command(bs, "-col", "/backend", "-filter", "/scenario:pingpong /mode:closed", f)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("benchstat: %v\n%s", err, got)
	}
	s := string(got)
	for _, want := range []string{"epoll", "uring", "netstd", "msgs/s", "server-cpu-sec/msg", "p=0.000 n=8"} {
		if !strings.Contains(s, want) {
			t.Fatalf("benchstat output lacks %q:\n%s", want, s)
		}
	}
}
