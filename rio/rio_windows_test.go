package rio

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// TestProbe logs Available's answer. Under Wine (ntdll exports wine_get_version) RIO is
// missing and the answer must be models.ErrUnsupported carrying the failing call and its WSA
// error; on Windows 8 / Server 2012 and later RIO must be available.
func TestProbe(t *testing.T) {
	err := Available()
	t.Logf("wine=%v Available() = %v", winsock.UnderWine(), err)
	if err != loadRIO() {
		t.Fatal("Available is not cached: the function table must be loaded once")
	}
	if !winsock.UnderWine() {
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
	for _, c := range []string{"RIOCreateRequestQueue", "RIOReceive", "RIOSend", "RIODequeueCompletion", "RIONotify", "RIORegisterBuffer", "closesocket(RQ)",
		"RIOSend(DEFER)", "RIOSend(COMMIT_ONLY)", "RIOReceive(DEFER)", "RIOReceive(COMMIT_ONLY)", "RQ send slots full"} {
		if calls[c] == 0 {
			t.Errorf("the suite never made %s", c)
		}
	}
}

// TestCQResizeEmulated grows one loop past its initial CQ capacity: every RQ charges
// rqEntries, so more than initialCQSize/rqEntries live sessions on one loop must resize the
// CQ (RIOResizeCompletionQueue) before creating the next RQ, or RIOCreateRequestQueue fails.
func TestCQResizeEmulated(t *testing.T) {
	restore := installEmu()
	defer restore()
	eng, err := New(models.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var opened atomic.Int32
	svc, err := eng.Listen("127.0.0.1:0", models.HandlerFuncs{
		Connect: func(models.Session) { opened.Add(1) },
		Recv: func(s models.Session, w []byte) int {
			s.Send(w)
			return len(w)
		},
	}, models.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := initialCQSize/rqEntries + 20
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", svc.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Every session echoes one byte: its RQ exists and works.
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != byte(i) {
			t.Fatalf("echo %d: %v %v", i, b, err)
		}
	}
	if got := svc.Stats().Live; got != n {
		t.Fatalf("%d live sessions, want %d", got, n)
	}
	violations, calls := emuReport()
	for _, v := range violations {
		t.Errorf("RIO contract breach: %s", v)
	}
	if calls["RIOResizeCompletionQueue"] == 0 {
		t.Fatalf("%d sessions on one loop (%d CQ entries) without RIOResizeCompletionQueue: %v", n, n*rqEntries, calls)
	}
	t.Logf("%d sessions: %v", n, calls)
}

// TestPostFailureEmulated: a Post whose PostQueuedCompletionStatus fails returns the error and
// leaves nothing queued: the job never runs, and the jobs posted after it run in order.
func TestPostFailureEmulated(t *testing.T) {
	restore := installEmu()
	defer restore()
	eng, err := New(models.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	saved := postQueued
	postQueued = func(windows.Handle, uint32, uintptr, *windows.Overlapped) error { return windows.ERROR_INVALID_HANDLE }
	var ran atomic.Bool
	perr := eng.Post(func() { ran.Store(true) })
	postQueued = saved
	if perr == nil {
		t.Fatal("Post with a failing PostQueuedCompletionStatus returned nil")
	}
	done := make(chan struct{})
	if err := eng.Post(func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the job posted after the failed one never ran")
	}
	eng.Close()
	if ran.Load() {
		t.Error("the job whose Post failed ran")
	}
}
