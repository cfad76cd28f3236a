package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	_ "github.com/iobench/iobench/netstd"
)

// testExe is the iobench binary the run tests start as server child processes.
var testExe string

const serveEnv = "IOBENCH_HARNESS_TEST_SERVE"

// TestMain builds cmd/iobench once. If the tree does not build right now (another backend
// mid-change), the test binary itself serves: it re-executes with serveEnv set and runs
// ServeCmd, still a real child process, with the backends this test imports.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		args := os.Args[1:]
		if len(args) > 0 && args[0] == "serve" {
			args = args[1:]
		}
		err := ServeCmd(context.Background(), args, os.Stdout, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(cli.Code(err))
	}
	dir, err := os.MkdirTemp("", "iobench-harness-test-")
	if err != nil {
		panic(err)
	}
	exe := filepath.Join(dir, "iobench")
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", exe, "github.com/iobench/iobench/cmd/iobench").CombinedOutput()
	if err == nil {
		testExe = exe
	} else {
		fmt.Fprintf(os.Stderr, "harness tests: go build cmd/iobench failed, serving from the test binary instead:\n%s\n", out)
		self, _ := os.Executable()
		testExe = self
		os.Setenv(serveEnv, "1") // inherited by the children only matters for them
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startAppServer runs app on netstd in this process and returns its address.
func startAppServer(tb testing.TB, app string, opt apps.Options) string {
	tb.Helper()
	h, err := apps.New(app, opt)
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := models.Open("netstd", models.Config{Loops: 1})
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := eng.Listen("127.0.0.1:0", h, models.ServiceOptions{})
	if err != nil {
		eng.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(); eng.Close() })
	return svc.Addr().String()
}

// startRawServer runs handle for every connection of a plain Go listener.
func startRawServer(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
