package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iobench/iobench/deploy"
)

// TestTokenFile: $IOBENCH_TOKEN_FILE (a Docker secret's path) becomes $IOBENCH_TOKEN for every
// command; an unreadable or empty one stops the command with exit 1 before it runs.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	good, empty := filepath.Join(dir, "token"), filepath.Join(dir, "empty")
	os.WriteFile(good, []byte("abc123\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	cases := []struct {
		name, file string
		code       int
		token      string
		stderr     string
	}{
		{"read into the variable", good, 0, "abc123", ""},
		{"missing file", filepath.Join(dir, "nope"), 1, "", "IOBENCH_TOKEN_FILE"},
		{"empty file", empty, 1, "", "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(deploy.TokenEnv, "")
			t.Setenv(deploy.TokenFileEnv, c.file)
			var so, se bytes.Buffer
			code := mainCode([]string{"backends"}, &so, &se)
			if code != c.code || !strings.Contains(se.String(), c.stderr) {
				t.Fatalf("exit %d stderr %q, want %d with %q", code, se.String(), c.code, c.stderr)
			}
			if got := os.Getenv(deploy.TokenEnv); got != c.token {
				t.Errorf("%s = %q, want %q", deploy.TokenEnv, got, c.token)
			}
		})
	}
}
