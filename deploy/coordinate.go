package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
)

// Coordinator is the start-up step of a distributed run inside an engine: the manifests start
// every role at once, and the coordinator must neither start before its agents listen nor
// run with fewer loaders than asked (a run with one loader missing would be a different
// benchmark, not a degraded one). It resolves the server agent and the load agents' names
// (a swarm's tasks.load gives one address per replica; a Kubernetes Indexed Job gives one
// name per index), waits until exactly Expect load addresses answer, and then runs
// `iobench run --server-agent ... --load-agents ...` with the rest of its arguments.
type Coordinator struct {
	Server string   // HOST:PORT of the server agent
	Loads  []string // names whose addresses are the load agents, in shard order
	Port   int      // the load agents' port
	Expect int      // number of load agents
	Wait   time.Duration

	Lookup func(ctx context.Context, host string) ([]string, error) // default net.DefaultResolver.LookupHost
	Dial   func(ctx context.Context, addr string) error             // default: a TCP connect
	Run    func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// Agents waits for the agents and returns the server address and the load agents' addresses:
// in the order of Loads, and within one name sorted, so shard i is the same agent on every
// attempt (for an Indexed Job, the pod of index i).
func (c *Coordinator) Agents(ctx context.Context, stderr io.Writer) (server string, loads []string, err error) {
	lookup, dial := c.Lookup, c.Dial
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	if dial == nil {
		dial = tcpDial
	}
	ctx, cancel := context.WithTimeout(ctx, c.Wait)
	defer cancel()
	last := errors.New("not tried")
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				if errors.Is(context.Cause(ctx), context.Canceled) {
					return "", nil, cli.Interrupted(ctx.Err())
				}
				return "", nil, cli.Failure(fmt.Errorf("agents not ready after %v: %v", c.Wait, last))
			case <-time.After(500 * time.Millisecond):
			}
		}
		server, loads, err = c.try(ctx, lookup, dial)
		if err == nil {
			return server, loads, nil
		}
		if dl, _ := ctx.Deadline(); attempt > 0 && !time.Now().Before(dl) {
			continue // cut short by the deadline: the previous attempt's reason is the one to give
		}
		last = err
		var tooMany *tooManyError
		if errors.As(last, &tooMany) {
			return "", nil, cli.Failure(last)
		}
		if attempt%10 == 0 {
			fmt.Fprintf(stderr, "coordinator: waiting for the agents: %v\n", last)
		}
	}
}

type tooManyError struct{ got, want int }

func (e *tooManyError) Error() string {
	return fmt.Sprintf("%d load agents answer, %d expected: refusing a run whose load is split over agents it was not asked for", e.got, e.want)
}

func (c *Coordinator) try(ctx context.Context, lookup func(context.Context, string) ([]string, error), dial func(context.Context, string) error) (string, []string, error) {
	host, port, err := net.SplitHostPort(c.Server)
	if err != nil {
		return "", nil, err
	}
	sa, err := lookup(ctx, host)
	if err != nil || len(sa) == 0 {
		return "", nil, fmt.Errorf("server agent %s: not resolved yet (%v)", host, err)
	}
	sort.Strings(sa)
	server := net.JoinHostPort(sa[0], port)
	if err := dial(ctx, server); err != nil {
		return "", nil, fmt.Errorf("server agent %s: %v", server, err)
	}
	var loads []string
	seen := map[string]bool{}
	for _, name := range c.Loads {
		addrs, err := lookup(ctx, name)
		if err != nil {
			return "", nil, fmt.Errorf("load agent %s: not resolved yet (%v)", name, err)
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			if !seen[a] {
				seen[a] = true
				loads = append(loads, net.JoinHostPort(a, strconv.Itoa(c.Port)))
			}
		}
	}
	if len(loads) > c.Expect {
		return "", nil, &tooManyError{len(loads), c.Expect}
	}
	if len(loads) < c.Expect {
		return "", nil, fmt.Errorf("%d of %d load agents resolved", len(loads), c.Expect)
	}
	for _, a := range loads {
		if err := dial(ctx, a); err != nil {
			return "", nil, fmt.Errorf("load agent %s: %v", a, err)
		}
	}
	return server, loads, nil
}

func tcpDial(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

const coordinateUsage = `usage: iobench deploy coordinate --server HOST:PORT --load NAME[,NAME...] --expect N [flags] -- run [run flags]

The coordinator's start-up inside a swarm stack or a Kubernetes Job: waits (--wait) until the
server agent and exactly N load agents resolve and accept connections, then runs
iobench run --server-agent ADDR --load-agents A,B,... with the run flags after --.
The agents' token is read from --token-file (default $IOBENCH_TOKEN_FILE) into $IOBENCH_TOKEN.
`

// CoordinateCmd is `iobench deploy coordinate`.
func CoordinateCmd(ctx context.Context, args []string, stdout, stderr io.Writer, run func(context.Context, []string, io.Writer, io.Writer) error) error {
	fs := cli.NewFlagSet("deploy coordinate", stderr)
	var c Coordinator
	var loads, tokenFile, print, engine string
	fs.StringVar(&c.Server, "server", "", "server agent HOST:PORT")
	fs.StringVar(&loads, "load", "", "comma-separated names of the load agents (each may resolve to several addresses, e.g. tasks.load)")
	fs.IntVar(&c.Port, "port", DefaultPort, "the load agents' port")
	fs.IntVar(&c.Expect, "expect", 0, "number of load agents the run needs")
	fs.DurationVar(&c.Wait, "wait", 2*time.Minute, "how long to wait for the agents")
	fs.StringVar(&tokenFile, "token-file", os.Getenv(TokenFileEnv), "file holding the agents' token (a Docker secret)")
	fs.StringVar(&print, "print", "", "after the run, copy this file (e.g. the report.md of the results folder) to stdout, for engines whose logs are the only way out")
	fs.StringVar(&engine, "engine", "", "the engine the agents run on (swarm, k8s), recorded in the results' topology")
	fs.Usage = func() { fmt.Fprint(stderr, coordinateUsage); fs.PrintDefaults() }
	if err := cli.Parse(fs, args, true); err != nil {
		return err
	}
	rest := fs.Args()
	switch {
	case c.Server == "" || loads == "":
		return cli.Usagef("--server and --load are required")
	case c.Expect < 1:
		return cli.Usagef("--expect must be 1 or more")
	case c.Wait <= 0:
		return cli.Usagef("--wait must be positive")
	case len(rest) == 0 || rest[0] != "run":
		return cli.Usagef("after -- give the run command: -- run [flags]")
	}
	if _, _, err := net.SplitHostPort(c.Server); err != nil {
		return cli.Usagef("--server %q: %v", c.Server, err)
	}
	for _, l := range strings.Split(loads, ",") {
		if l = strings.TrimSpace(l); l != "" {
			c.Loads = append(c.Loads, l)
		}
	}
	if tokenFile != "" {
		if err := LoadTokenFile(tokenFile); err != nil {
			return cli.Failure(err)
		}
	}
	if engine != "" {
		os.Setenv(harness.EngineEnv, engine) // read by the run's topology (harness/remote_run.go)
	}
	server, agents, err := c.Agents(ctx, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "coordinator: server agent %s, load agents %s\n", server, strings.Join(agents, ","))
	runArgs := append([]string{"--server-agent", server, "--load-agents", strings.Join(agents, ",")}, rest[1:]...)
	err = run(ctx, runArgs, stdout, stderr)
	if print != "" {
		b, perr := os.ReadFile(print)
		if perr != nil {
			fmt.Fprintf(stderr, "coordinator: --print: %v\n", perr)
		} else {
			fmt.Fprintf(stdout, "=== %s ===\n%s", print, b)
		}
	}
	return err
}

// LoadTokenFile sets IOBENCH_TOKEN from a file (trailing newline trimmed) unless it is set:
// Docker secrets are files, and an image without a shell cannot read one into a variable.
func LoadTokenFile(path string) error {
	if os.Getenv(TokenEnv) != "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("token file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return fmt.Errorf("token file %s is empty", path)
	}
	return os.Setenv(TokenEnv, tok)
}
