package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iobench/iobench/results"
	"github.com/iobench/iobench/results/resultstest"
)

// The report shows a variant beside its plain counterpart: the added server CPU per message
// with its significance by the A/A rule, per label and ladder point.
func TestReportShowsVariants(t *testing.T) {
	run := resultstest.EqualLoadFixture()
	var extra []results.Result
	for _, r := range run.Results {
		if r.LoadFraction == 0 || r.Skipped != "" || r.Capacity {
			continue
		}
		plain, variant := r, r
		plain.Scenario, plain.Proto = results.ScenarioLogging, results.VariantPlainProto
		variant.Scenario, variant.Proto = results.ScenarioLogging, "logging"
		variant.Repetitions = append([]results.Rep(nil), r.Repetitions...)
		for i := range variant.Repetitions {
			f := &variant.Repetitions[i].Figures
			if f.Server != nil && f.Server.CPUNsPerMsg != nil {
				s := *f.Server
				s.CPUNsPerMsg = results.Val(*s.CPUNsPerMsg * 1.5)
				f.Server = &s
			}
			f.Log = &results.LogCounts{Appended: 1000, Written: 990, Dropped: 10}
		}
		results.Summarize(&variant)
		extra = append(extra, plain, variant)
	}
	if len(extra) == 0 {
		t.Fatal("the fixture has no ladder points")
	}
	run.Results = append(run.Results, extra...)
	dir := t.TempDir()
	if err := results.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteReport(filepath.Join(dir, "out"), dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "out", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	i := strings.Index(s, "## logging beside plain framed")
	if i < 0 {
		t.Fatalf("no variant section in\n%s", s)
	}
	sec := s[i:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	if !strings.Contains(sec, "(+50.0 %) |") {
		t.Errorf("no significant +50 %% CPU cell:\n%s", sec)
	}
	if !strings.Contains(sec, "corrected with the run's other variant tests (Holm over ") {
		t.Errorf("the variant tests are not said to be corrected together:\n%s", sec)
	}
	if !strings.Contains(sec, "5000 lines, 50 dropped") && !strings.Contains(sec, " dropped |") {
		t.Errorf("no log counts:\n%s", sec)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "out", "report.html"))
	if !strings.Contains(string(html), `id="variants"`) {
		t.Error("no variants section in the HTML report")
	}
}
