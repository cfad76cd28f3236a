package plots

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReportScreenshot opens the equal-load fixture report in headless Chromium through
// scripts/report-screenshot.sh and checks the screenshot is a real rendering: a sizeable PNG
// with many distinct colours (plots) rather than a blank or error page.
func TestReportScreenshot(t *testing.T) {
	found := false
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if _, err := exec.LookPath(b); err == nil {
			found = true
		}
	}
	if !found {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed, but CI=true requires the browser check (.ci/run installs it)")
		}
		t.Skip("chromium not installed: the report was not checked in a browser (.ci/run installs it)")
	}
	_, html := writeEqualLoadReport(t)
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	script, _ := filepath.Abs(filepath.Join("..", "scripts", "report-screenshot.sh"))
	cmd := exec.Command(script, html, shot, "1400x3000")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, msg)
	}
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 50_000 {
		t.Fatalf("screenshot only %d bytes: blank page?", len(data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 1400 || b.Dy() != 3000 {
		t.Fatalf("screenshot %v, want 1400x3000", b)
	}
	colors := map[uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|bl>>8]++
		}
	}
	if len(colors) < 200 {
		t.Fatalf("screenshot has only %d distinct colours: not a rendered report", len(colors))
	}
	// Curves in the backend colours of the first plots must be visible (gnet orange, uring
	// green, epoll blue; the browser may shift colours slightly when scaling).
	for name, c := range map[string][3]int{"gnet": {0xff, 0x7f, 0x0e}, "uring": {0x2c, 0xa0, 0x2c}, "epoll": {0x1f, 0x77, 0xb4}} {
		n := 0
		for k, cnt := range colors {
			if near(int(k>>16), c[0]) && near(int(k>>8&0xff), c[1]) && near(int(k&0xff), c[2]) {
				n += cnt
			}
		}
		if n < 100 {
			t.Errorf("only %d %s-coloured pixels: plots not shown", n, name)
		}
	}
	if keep := os.Getenv("IOBENCH_KEEP_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot %s: %d bytes, %d colours", shot, len(data), len(colors))
}

func near(a, b int) bool { return a-b <= 12 && b-a <= 12 }
