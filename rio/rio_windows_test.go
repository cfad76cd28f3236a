package rio

import (
	"errors"
	"strings"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// TestProbe logs Available's answer. Under Wine (ntdll exports wine_get_version) RIO is
// missing and the answer must be models.ErrUnsupported carrying the failing call and its WSA
// error; on Windows 8 / Server 2012 and later RIO must be available.
func TestProbe(t *testing.T) {
	err := Available()
	t.Logf("wine=%v Available() = %v", isWine(), err)
	if err != loadRIO() {
		t.Fatal("Available is not cached: the function table must be loaded once")
	}
	if !isWine() {
		if err != nil {
			t.Fatalf("RIO unavailable on Windows: %v", err)
		}
		return
	}
	if !errors.Is(err, models.ErrUnsupported) {
		t.Fatalf("under Wine Available() = %v, want models.ErrUnsupported", err)
	}
	var ue *models.UnsupportedError
	if !errors.As(err, &ue) || ue.Backend != Name {
		t.Fatalf("error %T %v is not an UnsupportedError for %q", err, err, Name)
	}
	if !strings.Contains(ue.Reason, " failed: WSA") || !strings.Contains(ue.Reason, "(100") {
		t.Fatalf("reason %q does not name the failing call and its WSA error", ue.Reason)
	}
	if _, nerr := New(models.Config{}); nerr != err {
		t.Fatalf("New = %v, want Available's error %v", nerr, err)
	}
}

// TestConformanceEmulated runs the contract suite against the engine over the software RIO of
// emu_windows_test.go, so everything but the kernel's RIO itself (accept/connect, loops,
// region, request accounting, batching, close) is exercised end to end wherever Windows
// sockets run, Wine included; the emulator fails the test on any breach of RIO's documented
// caller contract.
func TestConformanceEmulated(t *testing.T) {
	restore := installEmu()
	defer restore()
	modeltest.Run(t, Name)
	violations, calls := emuReport()
	t.Logf("emulated RIO calls: %v", calls)
	for _, v := range violations {
		t.Errorf("RIO contract breach: %s", v)
	}
	for _, c := range []string{"RIOCreateRequestQueue", "RIOReceive", "RIOSend", "RIODequeueCompletion", "RIONotify", "RIORegisterBuffer", "closesocket(RQ)"} {
		if calls[c] == 0 {
			t.Errorf("the suite never made %s", c)
		}
	}
}
