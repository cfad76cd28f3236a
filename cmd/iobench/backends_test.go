package main

import (
	"testing"

	"github.com/iobench/iobench/internal/backendlist"
	"github.com/iobench/iobench/models"
)

// TestEveryBackendLinked: every backend of the tree (a register.go calling models.Register)
// is registered in this command, so none can be forgotten; run go generate ./cmd/iobench
// after adding one.
func TestEveryBackendLinked(t *testing.T) {
	bs, err := backendlist.Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, n := range models.Names() {
		linked[n] = true
	}
	for _, b := range bs {
		if !linked[b.Name] {
			t.Errorf("backend %s is not linked into iobench (run go generate ./cmd/iobench)", b.Name)
		}
	}
	if len(bs) < 7 {
		t.Errorf("found %d backends in the tree, want the 7 this project has at least", len(bs))
	}
}
