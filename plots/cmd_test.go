package plots

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iobench/iobench/internal/cli"
)

func TestReportCmd(t *testing.T) {
	lin, win := smallInput(t, 2), smallInput(t, 1)
	empty := t.TempDir()
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
