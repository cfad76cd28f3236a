package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/internal/netem"
)

// DefaultImage is the tag scripts/docker-image.sh gives the image the Dockerfile builds.
const DefaultImage = "iobench:dev"

// DefaultPort is the port every agent listens on inside its container or pod.
const DefaultPort = 7070

// TokenFileEnv names the file holding the agents' shared token (a Docker secret is a file);
// TokenEnv is the variable the agent and the coordinator read it from.
const (
	TokenEnv     = "IOBENCH_TOKEN"
	TokenFileEnv = "IOBENCH_TOKEN_FILE"
)

// ResultsDir is where the coordinator writes the results folder (a volume in every engine).
const ResultsDir = "/results"

// Options is what both engines' manifests are made from.
type Options struct {
	Backend    string   // server backend(s) of the suite, comma-separated
	Loaders    int      // load agents (swarm replicas, Job completions)
	Suite      string   // quick or full
	Scenarios  string   // optional subset of the suite
	Image      string   // the Dockerfile's image
	Port       int      // agents' port
	ServerCPUs int      // whole cores of the server agent (its serve children are pinned within them)
	LoaderCPUs int      // whole cores of each load agent
	MemoryMiB  int      // memory of every agent (k8s: request = limit, so QoS is Guaranteed)
	Netem      string   // WAN emulation of the load links ("delay 20ms 2ms loss 0.1%"); "" none
	RunArgs    []string // further `iobench run` flags, after `--`
}

func (o *Options) defaults() {
	if o.Suite == "" {
		o.Suite = "quick"
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.ServerCPUs == 0 {
		o.ServerCPUs = 2
	}
	if o.LoaderCPUs == 0 {
		o.LoaderCPUs = 1
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = 1024
	}
}

// validate refuses what would print a stack that cannot run, with one clear line each.
func (o *Options) validate() error {
	o.defaults()
	switch {
	case strings.TrimSpace(o.Backend) == "":
		return cli.Usagef("--backend is required (e.g. --backend epoll; see `iobench backends`)")
	case o.Loaders < 1:
		return cli.Usagef("--loaders must be 1 or more (got %d)", o.Loaders)
	case o.Loaders > 1000:
		return cli.Usagef("--loaders %d: more than 1000 load agents is not a benchmark of one server", o.Loaders)
	case o.Suite != "quick" && o.Suite != "full":
		return cli.Usagef("unknown --suite %q (want quick or full)", o.Suite)
	case o.Port < 1 || o.Port > 65535:
		return cli.Usagef("--port %d out of range 1-65535", o.Port)
	case o.ServerCPUs < 1 || o.LoaderCPUs < 1:
		return cli.Usagef("--server-cpus and --loader-cpus are whole cores, 1 or more")
	case o.MemoryMiB < 64:
		return cli.Usagef("--memory-mib %d: under 64 MiB an agent cannot hold its histograms", o.MemoryMiB)
	}
	for _, b := range strings.Split(o.Backend, ",") {
		if strings.TrimSpace(b) == "" || strings.ContainsAny(b, " \t\"'$") {
			return cli.Usagef("bad --backend list %q", o.Backend)
		}
	}
	if o.Netem != "" {
		if _, err := netem.Parse(o.Netem); err != nil {
			return cli.Usage(err)
		}
	}
	return nil
}

// agentArgs is the agent's command line inside a container: listening on every address of
// the container (so a token is required, and given through TokenEnv).
func (o *Options) agentArgs() []string {
	return []string{"agent", "--listen", "0.0.0.0:" + strconv.Itoa(o.Port)}
}

// coordinatorArgs is the coordinator's command line: wait for the agents named by server and
// loads (expect addresses in all), then `iobench run` against them into ResultsDir/run.
func (o *Options) coordinatorArgs(server string, loads []string, extra ...string) []string {
	args := []string{"deploy", "coordinate",
		"--server", fmt.Sprintf("%s:%d", server, o.Port),
		"--load", strings.Join(loads, ","),
		"--port", strconv.Itoa(o.Port),
		"--expect", strconv.Itoa(o.Loaders),
	}
	args = append(args, extra...)
	args = append(args, "--", "run",
		"--suite", o.Suite,
		"--backends", o.Backend,
		"--out", ResultsDir+"/run")
	if o.Scenarios != "" {
		args = append(args, "--scenarios", o.Scenarios)
	}
	return append(args, o.RunArgs...)
}
