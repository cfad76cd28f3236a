// Command gen writes cmd/iobench/backends.go and scripts/backends.txt from the backends in the
// tree (see package backendlist). Run it with `go generate ./cmd/iobench` (or from anywhere
// in the repository: go run ./internal/backendlist/gen).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/iobench/iobench/internal/backendlist"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "backendlist/gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bs, err := backendlist.Scan(root)
	if err != nil {
		return err
	}
	for path, data := range backendlist.Files(bs) {
		if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// moduleRoot is the nearest directory upwards holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
