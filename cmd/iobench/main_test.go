package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMainCodeUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"bogus"}, 2, "unknown command"},
		{"unknown backend", []string{"serve", "--backend", "nope"}, 2, "unknown backend"},
		{"bad flag", []string{"serve", "--frobnicate"}, 2, "flag provided but not defined"},
		{"bad address", []string{"serve", "--addr", "localhost"}, 2, "bad --addr"},
		{"stray argument", []string{"backends", "extra"}, 2, "unexpected argument"},
		{"help", []string{"help"}, 0, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := mainCode(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d stderr %q; want exit %d containing %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

func TestBackendsListsEveryBackend(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := mainCode([]string{"backends"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, name := range []string{"netstd", "gnet", "netpoll", "epoll", "uring", "iocp", "rio"} {
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("backends output lacks %s:\n%s", name, stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), "netstd   available") {
		t.Errorf("netstd not reported available:\n%s", stdout.String())
	}
}

// buildIobench builds the command once per test binary.
func buildIobench(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "iobench")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestServeProcess runs the real binary as a child: first line, echo, SIGTERM → exit 0; a port
// in use → one stderr line and exit 2.
func TestServeProcess(t *testing.T) {
	bin := buildIobench(t)
	cmd := exec.Command(bin, "serve", "--backend", "netstd", "--proto", "echo", "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v (stderr %s)", err, stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := []byte("hello, echo")
	c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, %v", got, err)
	}

	t.Run("port in use", func(t *testing.T) {
		busy := exec.Command(bin, "serve", "--backend", "netstd", "--addr", addr)
		var e bytes.Buffer
		busy.Stderr = &e
		err := busy.Run()
		var ee *exec.ExitError
		if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("second serve on %s: %v, want exit 2", addr, err)
		}
		if n := strings.Count(strings.TrimSpace(e.String()), "\n"); n != 0 || !strings.Contains(e.String(), "address already in use") {
			t.Fatalf("stderr %q: want one line saying the address is in use", e.String())
		}
	})

	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v (stderr %s)", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// A load stops on SIGINT and SIGTERM in its window, with 128 + the signal number, however
// long the window: the server here accepts and never answers.
func TestLoadStopsOnSignal(t *testing.T) {
	bin := buildIobench(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		code int
	}{{"SIGINT", syscall.SIGINT, 130}, {"SIGTERM", syscall.SIGTERM, 143}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "load", "--target", ln.Addr().String(), "--conns", "2", "--depth", "1",
				"--warmup", "0s", "--duration", "60s", "--client-backend", "netstd")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			time.Sleep(500 * time.Millisecond)
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errorsAs(err, &ee) || ee.ExitCode() != tc.code {
					t.Fatalf("load after %v: %v, want exit %d (stderr %s)", tc.sig, err, tc.code, stderr.String())
				}
				if !strings.Contains(stderr.String(), "interrupted") {
					t.Fatalf("stderr %q does not say it was interrupted", stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("load still running 10 s after %v", tc.sig)
			}
		})
	}
}
