package plots

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/results"
	"github.com/iobench/iobench/results/resultstest"
)

// The full fixture report is rendered once per test binary (rendering is the slow part,
// especially under -race) and shared read-only by the tests.
var shared, sharedEq struct {
	once      sync.Once
	out, html string
	err       error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	for _, d := range []string{shared.out, sharedEq.out} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

func writeFixtureReport(t testing.TB) (out, html string) {
	t.Helper()
	shared.once.Do(func() {
		shared.out, shared.err = os.MkdirTemp("", "iobench-report-")
		if shared.err == nil {
			shared.html, shared.err = WriteReport(shared.out, fixtureDirs[resultstest.Linux], fixtureDirs[resultstest.Windows])
		}
	})
	if shared.err != nil {
		t.Fatalf("WriteReport: %v", shared.err)
	}
	return shared.out, shared.html
}

// writeEqualLoadReport renders the committed equal-load fixture once per test binary.
func writeEqualLoadReport(t testing.TB) (out, html string) {
	t.Helper()
	sharedEq.once.Do(func() {
		sharedEq.out, sharedEq.err = os.MkdirTemp("", "iobench-report-eq-")
		if sharedEq.err == nil {
			sharedEq.html, sharedEq.err = WriteReport(sharedEq.out, eqFixtureDir)
		}
	})
	if sharedEq.err != nil {
		t.Fatalf("WriteReport: %v", sharedEq.err)
	}
	return sharedEq.out, sharedEq.html
}

// smallInput writes a run of the first n Linux fixture results (no HDR logs) to a temp
// folder: cheap to render, for the tests about input handling.
func smallInput(t testing.TB, n int) string {
	t.Helper()
	run, err := results.ReadRunFile(filepath.Join(fixtureDirs[resultstest.Linux], results.RunFileName))
	if err != nil {
		t.Fatal(err)
	}
	run.Results = run.Results[:n]
	dir := t.TempDir()
	if err := results.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReportReferencesEveryPlot: every PNG/SVG written is referenced by the HTML (embedded
// and linked) and by the Markdown, and every reference exists.
func TestReportReferencesEveryPlot(t *testing.T) {
	out, htmlPath := writeFixtureReport(t)
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, MarkdownName))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.png"))
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	if len(files) < 10 || len(files) != len(svgs) {
		t.Fatalf("%d PNGs, %d SVGs", len(files), len(svgs))
	}
	embedded := regexp.MustCompile(`<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="[^"]*" data-plot="([^"]+)"`).FindAllSubmatch(html, -1)
	seen := map[string]bool{}
	for _, m := range embedded {
		seen[string(m[1])] = true
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".png")
		if !seen[name] {
			t.Errorf("plot %s not embedded in the HTML", name)
		}
		for _, ext := range []string{".png", ".svg"} {
			if !strings.Contains(string(html), `href="`+name+ext+`"`) {
				t.Errorf("HTML does not link %s%s", name, ext)
			}
			if !strings.Contains(string(md), "("+name+ext+")") {
				t.Errorf("Markdown does not reference %s%s", name, ext)
			}
		}
	}
	if len(seen) != len(files) {
		t.Errorf("HTML embeds %d plots, %d written", len(seen), len(files))
	}
	for _, kind := range []string{"throughput-", "latency-spectrum-", "latency-timeline-", "efficiency-", "rss-per-conn-", "sweep-"} {
		found := false
		for name := range seen {
			found = found || strings.HasPrefix(name, kind)
		}
		if !found {
			t.Errorf("no %s plot", kind)
		}
	}
}

// TestReportContent checks the honesty rules are visible in the report.
func TestReportContent(t *testing.T) {
	for _, doc := range reportDocs(writeFixtureReport(t)) {
		for _, want := range []string{
			"bench-linux (linux)", "bench-win (windows, wine)", // labelled by host and OS
			"client-bound",  // client-bound throughput labelled
			"skipped",       // rio listed
			"WSAEOPNOTSUPP", // with its reason
			"gnet on Windows is a development mode over Go net",
			"n/a",                            // unmeasured syscalls under Wine
			"significant (Mann–Whitney U p=", // 5 vs 5 Linux pingpong reaches significance
			"no significant difference",      // 3 vs 3 cannot
			"SYNTHETIC",
			"max rate meeting the p99 SLO",
		} {
			if !strings.Contains(doc.text, want) {
				t.Errorf("%s lacks %q", doc.name, want)
			}
		}
	}
	// Machines never pooled: netstd appears under both hosts in the pingpong section, as two rows.
	if md := reportDocs(writeFixtureReport(t))[1].text; strings.Count(md, "| netstd |") < 2 {
		t.Error("netstd of both hosts not shown separately")
	}
}

type reportDoc struct{ name, text string }

// reportDocs reads the HTML and the Markdown of a rendered report.
func reportDocs(out, htmlPath string) []reportDoc {
	html, _ := os.ReadFile(htmlPath)
	md, _ := os.ReadFile(filepath.Join(out, MarkdownName))
	return []reportDoc{{"html", string(html)}, {"md", string(md)}}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	future := write("future/run.json", `{"schema_version":"iobench/results/v7","results":[]}`)
	nan := write("nan/run.json", `{"schema_version":"iobench/results/v1","results":[{"backend":"epoll","scenario":"pingpong","mode":"closed","msgs_per_sec":NaN}]}`)

	good := smallInput(t, 2)
	cases := []struct {
		name   string
		inputs []string
		naming []string
		html   bool
	}{
		{"empty folder", []string{good, empty}, []string{empty}, true},
		{"unknown version", []string{future, good}, []string{future, "unknown schema version"}, true},
		{"NaN", []string{good, filepath.Dir(nan)}, []string{nan, "NaN"}, true},
		{"nothing good", []string{empty, future}, []string{empty, future}, false},
		{"missing path", []string{filepath.Join(dir, "nope")}, []string{"nope"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			html, err := WriteReport(out, c.inputs...)
			if cli.Code(err) != cli.ExitUsage {
				t.Fatalf("err = %v (code %d), want a usage error", err, cli.Code(err))
			}
			for _, n := range c.naming {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error does not name %q: %v", n, err)
				}
			}
			if (html != "") != c.html {
				t.Fatalf("html = %q, want rendered %v", html, c.html)
			}
			if c.html {
				body, _ := os.ReadFile(html)
				if !strings.Contains(string(body), "Bad input") || !strings.Contains(string(body), c.naming[0]) {
					t.Error("report does not list the bad input")
				}
				if pngs, _ := filepath.Glob(filepath.Join(out, "throughput-*.png")); len(pngs) == 0 {
					t.Error("good input not rendered")
				}
			}
		})
	}
}

// TestEqualLoadReportContent: the equal-load report shows curves, per-rate verdicts with the
// A/A rule, confidence for every tail, and every flag a reader must see, in HTML and Markdown.
func TestEqualLoadReportContent(t *testing.T) {
	out, htmlPath := writeEqualLoadReport(t)
	docs := reportDocs(out, htmlPath)
	md := docs[1].text
	for _, doc := range docs {
		for _, want := range []string{
			"Recommendations at equal offered load",
			"uring 40–80 %",                 // at which rates who wins
			"epoll and netstd cross at ≈",   // where curves cross
			"A/A calibration", "A/A spread", // the A/A table
			"too noisy for verdicts on this metric", // the noisy A/A pair
			"corrected together (Holm)",             // the run's verdicts corrected for each other
			"too few samples (",                     // tails without enough samples
			"[95 % CI]", "µs [",                     // tails with their interval
			"SATURATED", "gnet saturated from 80 %", // saturation
			"steady: false",                // the non-steady result
			"INTERRUPTED", "1 interrupted", // the interrupted run and repetition
			"round 3 drifted 14 %", "in a drifted round", // the drifted round
			"99.5 (8 rounds)",                        // the speed index per run
			"Capacity (closed loop)", "client-bound", // the secondary capacity figure
		} {
			if !strings.Contains(doc.text, want) {
				t.Errorf("%s lacks %q", doc.name, want)
			}
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	var names []string
	for _, p := range pngs {
		names = append(names, filepath.Base(p))
	}
	for _, kind := range []string{"latency-vs-rate-", "cost-vs-rate-", "capacity-"} {
		if n := strings.Count(strings.Join(names, " "), kind); n != 2 {
			t.Errorf("%d %s plots, want one per workload (2)", n, kind)
		}
	}
	if strings.Contains(md, "throughput-") {
		t.Error("a ladder workload must not render the old closed-loop throughput chart")
	}
}

// TestCommittedOldReportRenders: the committed example run (old format: no ladder, no CIs,
// no speed index) still renders, marked where it lacks what new runs carry. Only its run file
// is used (HDR logs are the fixtures' business): rendering them all is slow under -race.
func TestCommittedOldReportRenders(t *testing.T) {
	body := renderCommitted(t, "linux-quick-20261128")
	for _, want := range []string{"(no CI)", "not recorded", "throughput-pingpong", "significant"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
