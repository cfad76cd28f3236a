package plots

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/results"
)

// runWith writes a run holding rs to a temp folder.
func runWith(t testing.TB, rs []results.Result) string {
	t.Helper()
	dir := t.TempDir()
	run := &results.Run{SchemaVersion: results.SchemaVersion, Suite: "quick", Results: rs,
		Env: results.Env{OS: "linux", Hostname: "h"}}
	if err := results.WriteRun(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReportCmd(t *testing.T) {
	lin, win := smallInput(t, 2), smallInput(t, 1)
	empty := t.TempDir()
	noResults, onlySkipped := runWith(t, nil), runWith(t, []results.Result{
		{Backend: "rio", Scenario: results.ScenarioPingPong, Skipped: "rio: unsupported on linux"},
		{Backend: "iocp", Scenario: results.ScenarioPingPong, Skipped: "iocp: unsupported on linux"}})
	cases := []struct {
		name     string
		args     func(out string) []string
		code     int
		rendered bool
		stderr   string
	}{
		{"flags after folders", func(out string) []string { return []string{lin, win, "--out", out} }, 0, true, ""},
		{"flags first", func(out string) []string { return []string{"-out", out, lin} }, 0, true, ""},
		{"bad folder among good", func(out string) []string { return []string{"--out", out, lin, empty} }, cli.ExitUsage, true, empty},
		{"no folder", func(out string) []string { return []string{"--out", out} }, cli.ExitUsage, false, "usage: iobench report"},
		{"bad flag", func(out string) []string { return []string{"--nope", lin} }, cli.ExitUsage, false, "nope"},
		{"run without results", func(out string) []string { return []string{noResults, "--out", out} }, cli.ExitUsage, false,
			"no results to report: the run holds no measured result"},
		{"run with only skipped results", func(out string) []string { return []string{onlySkipped, "--out", out} }, cli.ExitUsage, false,
			"all 2 were skipped (e.g. rio pingpong: rio: unsupported on linux)"},
		{"empty run among good", func(out string) []string { return []string{lin, noResults, "--out", out} }, cli.ExitUsage, true,
			"no results to report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rep")
			var so, se bytes.Buffer
			err := ReportCmd(context.Background(), c.args(out), &so, &se)
			if got := cli.Code(err); got != c.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, c.code)
			}
			_, statErr := os.Stat(filepath.Join(out, HTMLName))
			if (statErr == nil) != c.rendered {
				t.Fatalf("report rendered = %v, want %v", statErr == nil, c.rendered)
			}
			if c.rendered && !strings.Contains(so.String(), HTMLName) {
				t.Errorf("stdout does not name the report: %q", so.String())
			}
			msg := se.String()
			if err != nil {
				msg += err.Error()
			}
			if c.stderr != "" && !strings.Contains(msg, c.stderr) {
				t.Errorf("message lacks %q: %s", c.stderr, msg)
			}
		})
	}
}
