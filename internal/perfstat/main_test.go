package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var in strings.Builder
	for i := range 6 {
		in.WriteString("epoll pingpong old 1 " + []string{"100", "101", "102", "103", "104", "105"}[i] + " 20000\n")
		in.WriteString("epoll pingpong new 1 " + []string{"200", "201", "202", "203", "204", "205"}[i] + " 20000\n")
		in.WriteString("uring pingpong old 1 100 20000\nuring pingpong new 1 " + []string{"99", "100", "101", "100", "99", "101"}[i] + " 20000\n")
	}
	var out bytes.Buffer
	if err := run(strings.NewReader(in.String()), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "epoll") || !strings.Contains(lines[1], "WORSE") ||
		!strings.Contains(lines[2], "uring") || !strings.Contains(lines[2], "no significant difference") {
		t.Fatalf("output:\n%s", out.String())
	}
	if err := run(strings.NewReader("epoll pingpong sideways 1 1 1\n"), &out); err == nil {
		t.Error("a bad rev was accepted")
	}
}
