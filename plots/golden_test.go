package plots

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/iobench/iobench/results/resultstest"
)

// goldenPlots are one chart of each kind rendered from the committed fixtures.
var goldenPlots = []string{
	"throughput-pingpong-echo-c100-s64-d1-closed",
	"efficiency-pingpong-echo-c100-s64-d1-closed",
	"latency-spectrum-pingpong-echo-c100-s64-d1-open-r100000",
	"latency-timeline-pingpong-echo-c100-s64-d1-open-r100000",
	"rss-per-conn-idle",
	"sweep-sweep-echo-c100-s64-d1-open",
}

// goldenEqualLoad are the charts of the equal-load fixture.
var goldenEqualLoad = []string{
	"latency-vs-rate-broadcast-framed-c64-s64-d1-ladder",
	"cost-vs-rate-broadcast-framed-c64-s64-d1-ladder",
	"latency-vs-rate-pingpong-echo-c100-s64-d1-ladder",
	"capacity-pingpong-echo-c100-s64-d1-ladder",
}

// TestGoldenImages renders the fixture report and compares charts with plots/testdata/golden
// (regenerate with `go test ./plots -run TestGoldenImages -update` and look at them). SVG must
// match byte for byte; PNG too, except that up to 0.1% of pixels may differ (rasteriser
// rounding on another CPU), which is reported.
func TestGoldenImages(t *testing.T) {
	old, _ := writeFixtureReport(t)
	eq, _ := writeEqualLoadReport(t)
	gdir := filepath.Join("testdata", "golden")
	if *update {
		os.MkdirAll(gdir, 0o755)
	}
	outs := map[string]string{}
	for _, n := range goldenPlots {
		outs[n] = old
	}
	for _, n := range goldenEqualLoad {
		outs[n] = eq
	}
	for _, name := range append(append([]string(nil), goldenPlots...), goldenEqualLoad...) {
		out := outs[name]
		for _, ext := range []string{".svg", ".png"} {
			t.Run(name+ext, func(t *testing.T) {
				got, err := os.ReadFile(filepath.Join(out, name+ext))
				if err != nil {
					t.Fatalf("chart not written: %v", err)
				}
				golden := filepath.Join(gdir, name+ext)
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if bytes.Equal(got, want) {
					return
				}
				keep := filepath.Join(os.TempDir(), "iobench-golden-"+name+ext)
				os.WriteFile(keep, got, 0o644)
				if ext == ".svg" {
					t.Fatalf("%s differs from golden; actual kept at %s", name+ext, keep)
				}
				frac, err := pixelDiff(got, want)
				if err != nil {
					t.Fatal(err)
				}
				if frac > 0.001 {
					t.Fatalf("%s: %.3f%% of pixels differ from golden; actual kept at %s", name+ext, 100*frac, keep)
				}
				t.Logf("%s: bytes differ but only %.4f%% of pixels", name+ext, 100*frac)
			})
		}
	}
}

func pixelDiff(a, b []byte) (float64, error) {
	ia, err := png.Decode(bytes.NewReader(a))
	if err != nil {
		return 0, err
	}
	ib, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	if ia.Bounds() != ib.Bounds() {
		return 1, nil
	}
	r := ia.Bounds()
	diff := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if !sameColor(ia, ib, x, y) {
				diff++
			}
		}
	}
	return float64(diff) / float64(r.Dx()*r.Dy()), nil
}

func sameColor(a, b image.Image, x, y int) bool {
	r1, g1, b1, a1 := a.At(x, y).RGBA()
	r2, g2, b2, a2 := b.At(x, y).RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestRenderDeterministic: the same input renders the same bytes twice (no map order, no
// clock in the output), which the golden images rely on.
func TestRenderDeterministic(t *testing.T) {
	a, _ := writeFixtureReport(t)
	b := t.TempDir()
	if _, err := WriteReport(b, fixtureDirs[resultstest.Linux], fixtureDirs[resultstest.Windows]); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(a, "*"))
	if len(files) == 0 {
		t.Fatal("nothing rendered")
	}
	for _, f := range files {
		x, _ := os.ReadFile(f)
		y, err := os.ReadFile(filepath.Join(b, filepath.Base(f)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two renderings", filepath.Base(f))
		}
	}
}
