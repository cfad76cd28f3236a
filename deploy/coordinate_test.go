package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
)

// agents listens on 127.0.0.1 (the server agent) and on n further loopback addresses
// 127.0.0.2.. all with the same port, as load agents do in their containers.
func agents(t testing.TB, n int) (serverAddr string, port int) {
	t.Helper()
	var ls []net.Listener
	t.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
	})
	for try := 0; try < 20; try++ {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = first.Addr().(*net.TCPAddr).Port
		got := []net.Listener{first}
		for i := 0; i < n; i++ {
			l, err := net.Listen("tcp", "127.0.0."+strconv.Itoa(2+i)+":"+strconv.Itoa(port))
			if err != nil {
				break
			}
			got = append(got, l)
		}
		if len(got) == n+1 {
			ls = got
			for _, l := range ls {
				go func(l net.Listener) {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						c.Close()
					}
				}(l)
			}
			return first.Addr().String(), port
		}
		for _, l := range got {
			l.Close()
		}
	}
	t.Fatal("no port free on every loopback address")
	return "", 0
}

func TestCoordinate(t *testing.T) {
	serverAddr, port := agents(t, 3)
	_, sport, _ := net.SplitHostPort(serverAddr)
	hosts := map[string][]string{
		"server":     {"127.0.0.1"},
		"tasks.load": {"127.0.0.4", "127.0.0.2", "127.0.0.3"}, // swarm: one name, every replica
		"load-0.l":   {"127.0.0.3"},                           // k8s: one name per index
		"load-1.l":   {"127.0.0.2"},
	}
	lookup := func(_ context.Context, h string) ([]string, error) {
		if a, ok := hosts[h]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	p := strconv.Itoa(port)
	cases := []struct {
		name  string
		load  string
		want  int
		loads string // the --load-agents the run gets
		err   string
	}{
		{"swarm tasks name", "tasks.load", 3, "127.0.0.2:" + p + ",127.0.0.3:" + p + ",127.0.0.4:" + p, ""},
		{"indexed names keep their order", "load-0.l,load-1.l", 2, "127.0.0.3:" + p + ",127.0.0.2:" + p, ""},
		{"more loaders than asked", "tasks.load", 2, "", "3 load agents answer, 2 expected"},
		{"fewer loaders than asked", "load-0.l", 2, "", "1 of 2 load agents resolved"},
		{"a loader that does not resolve", "load-0.l,load-9.l", 2, "", "load agent load-9.l: not resolved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			co := Coordinator{Server: "server:" + sport, Loads: strings.Split(c.load, ","), Port: port, Expect: c.want,
				Wait: 1500 * time.Millisecond, Lookup: lookup}
			var errb bytes.Buffer
			server, loads, err := co.Agents(context.Background(), &errb)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || cli.Code(err) != cli.ExitFailure {
					t.Fatalf("err %v (exit %d), want a failure naming %q", err, cli.Code(err), c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if server != serverAddr || strings.Join(loads, ",") != c.loads {
				t.Fatalf("agents %s %v, want %s %s", server, loads, serverAddr, c.loads)
			}
		})
	}
}

// TestCoordinateCmd runs the command end to end with a stand-in run: it gets the resolved
// agents, the token from the secret file, and --print copies the report to stdout.
func TestCoordinateCmd(t *testing.T) {
	serverAddr, port := agents(t, 1)
	dir := t.TempDir()
	tokenFile, report := filepath.Join(dir, "token"), filepath.Join(dir, "report.md")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	t.Setenv(TokenEnv, "")
	var got []string
	var token, engine string
	t.Setenv(harness.EngineEnv, "")
	run := func(_ context.Context, args []string, _, _ io.Writer) error {
		got, token, engine = args, os.Getenv(TokenEnv), os.Getenv(harness.EngineEnv)
		return os.WriteFile(report, []byte("# the report\n"), 0o644)
	}
	var out, errb bytes.Buffer
	err := CoordinateCmd(context.Background(), []string{"--server", serverAddr, "--load", "127.0.0.2", "--port", strconv.Itoa(port),
		"--expect", "1", "--token-file", tokenFile, "--print", report, "--engine", "swarm", "--", "run", "--backends", "epoll"}, &out, &errb, run)
	if err != nil {
		t.Fatalf("%v (%s)", err, errb.String())
	}
	want := []string{"--server-agent", serverAddr, "--load-agents", "127.0.0.2:" + strconv.Itoa(port), "--backends", "epoll"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("run args %v, want %v", got, want)
	}
	if engine != "swarm" {
		t.Errorf("$%s %q in the run, want swarm (--engine)", harness.EngineEnv, engine)
	}
	if token != "s3cret" {
		t.Errorf("token %q, want the file's s3cret", token)
	}
	if !strings.Contains(out.String(), "# the report") {
		t.Errorf("--print did not copy the report: %q", out.String())
	}

	t.Run("refusals", func(t *testing.T) {
		for _, args := range [][]string{
			{"--load", "x", "--expect", "1", "--", "run"},
			{"--server", "s:1", "--load", "x", "--", "run"},
			{"--server", "s:1", "--load", "x", "--expect", "1"},
			{"--server", "s", "--load", "x", "--expect", "1", "--", "run"},
		} {
			if err := CoordinateCmd(context.Background(), args, io.Discard, io.Discard, run); cli.Code(err) != cli.ExitUsage {
				t.Errorf("%v: exit %d (%v), want usage", args, cli.Code(err), err)
			}
		}
	})
	t.Run("interrupted while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		co := Coordinator{Server: serverAddr, Loads: []string{"127.0.0.2"}, Port: port, Expect: 2, Wait: time.Minute}
		_, _, err := co.Agents(ctx, io.Discard)
		if cli.Code(err) != cli.ExitInterrupted {
			t.Errorf("exit %d (%v), want interrupted", cli.Code(err), err)
		}
	})
}
