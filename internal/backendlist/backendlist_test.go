package backendlist

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const root = "../.."

// TestUpToDate: the generated files match the tree; run `go generate ./cmd/iobench` after
// adding or changing a backend.
func TestUpToDate(t *testing.T) {
	bs, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) == 0 {
		t.Fatal("no backend found (no register.go calling models.Register)")
	}
	for path, want := range Files(bs) {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale (%v): run go generate ./cmd/iobench\n--- want\n%s", path, err, want)
		}
	}
}

// TestRegistrationInRegisterGo: every models.Register call of a backend package is in its
// register.go, where Scan looks (so a backend registered elsewhere cannot be left out).
func TestRegistrationInRegisterGo(t *testing.T) {
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "models" || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, e.Name(), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || filepath.Base(f) == "register.go" {
				continue
			}
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("models.Register(")) {
				t.Errorf("%s calls models.Register: move it to register.go", f)
			}
		}
	}
}

// TestScanPlatforms pins the platform rule on the backends whose platforms are known.
func TestScanPlatforms(t *testing.T) {
	bs, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"netstd": "linux,windows,darwin", "epoll": "linux", "uring": "linux", "iocp": "windows", "rio": "windows"}
	for _, b := range bs {
		if w, ok := want[b.Name]; ok && strings.Join(b.Platforms, ",") != w {
			t.Errorf("%s runs on %v, want %s", b.Name, b.Platforms, w)
		}
	}
}
