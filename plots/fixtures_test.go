package plots

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/iobench/iobench/results"
	"github.com/iobench/iobench/results/resultstest"
)

var update = flag.Bool("update", false, "regenerate plots/testdata fixtures and golden images")

// fixtureDirs are the committed SYNTHETIC inputs (see results/resultstest): a Linux run with
// 5 backends and a Windows-under-Wine run with rio skipped.
var fixtureDirs = map[resultstest.Host]string{
	resultstest.Linux:   filepath.Join("testdata", "fixtures", "linux"),
	resultstest.Windows: filepath.Join("testdata", "fixtures", "windows"),
}

// eqFixtureDir is the committed SYNTHETIC equal-load run (resultstest.EqualLoadFixture):
// ladders at 20–80 % of a common capacity, an A/A twin, a saturated label, a non-steady
// result, a drifted round and an interrupted repetition.
var eqFixtureDir = filepath.Join("testdata", "fixtures", "equal-load")

// TestFixtures regenerates the fixtures with -update; otherwise it checks the committed ones
// are exactly what the generator produces (so nobody hand-edits a "result").
func TestFixtures(t *testing.T) {
	gens := map[string]func(dir string) (*results.Run, error){
		eqFixtureDir: func(string) (*results.Run, error) { return resultstest.EqualLoadFixture(), nil },
	}
	for host, dir := range fixtureDirs {
		gens[dir] = func(target string) (*results.Run, error) { return resultstest.Run(host, target) }
	}
	for dir, gen := range gens {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			target := dir
			if !*update {
				target = t.TempDir()
			} else if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			run, err := gen(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := results.WriteRun(target, run); err != nil {
				t.Fatal(err)
			}
			if *update {
				return
			}
			err = filepath.Walk(target, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(target, p)
				want, _ := os.ReadFile(p)
				got, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Errorf("committed fixture missing %s (run go test ./plots -run TestFixtures -update)", rel)
					return nil
				}
				if !bytes.Equal(got, want) {
					t.Errorf("committed fixture %s differs from the generator (run with -update)", rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
