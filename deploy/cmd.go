package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/iobench/iobench/harness"
	"github.com/iobench/iobench/internal/cli"
)

const deployUsage = `usage: iobench deploy swarm|k8s|coordinate [flags] [-- run flags]

  swarm       print a Compose file for docker stack deploy (Docker Swarm mode)
  k8s         print Kubernetes manifests (-o yaml|json; json is one v1 List)
  coordinate  the coordinator's start-up inside a stack or a Job (see its -h)

Flags after -- are passed to the coordinator's iobench run (e.g. -- --reps 1 --duration 2s).
`

// Cmd is `iobench deploy`.
func Cmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, deployUsage)
		if len(args) == 0 {
			return cli.Usagef("which engine? swarm, k8s or coordinate")
		}
		return nil
	}
	switch args[0] {
	case "coordinate":
		return CoordinateCmd(ctx, args[1:], stdout, stderr, harness.RunCmd)
	case "swarm", "k8s":
	default:
		fmt.Fprint(stderr, deployUsage)
		return cli.Usagef("unknown engine %q (want swarm, k8s or coordinate)", args[0])
	}
	engine := args[0]
	fs := cli.NewFlagSet("deploy "+engine, stderr)
	var o Options
	fs.StringVar(&o.Backend, "backend", "", "server backend(s) of the suite, comma-separated (required)")
	fs.IntVar(&o.Loaders, "loaders", 2, "load agents")
	fs.StringVar(&o.Suite, "suite", "quick", "suite: quick or full")
	fs.StringVar(&o.Scenarios, "scenarios", "", "comma-separated scenarios of the suite (default: all)")
	fs.StringVar(&o.Image, "image", DefaultImage, "the image scripts/docker-image.sh builds")
	fs.IntVar(&o.Port, "port", DefaultPort, "the agents' port")
	fs.IntVar(&o.ServerCPUs, "server-cpus", 2, "whole cores of the server agent")
	fs.IntVar(&o.LoaderCPUs, "loader-cpus", 1, "whole cores of each load agent")
	fs.IntVar(&o.MemoryMiB, "memory-mib", 1024, "memory of each agent in MiB")
	fs.StringVar(&o.Netem, "netem", "", `WAN emulation of the load links, tc-netem words ("delay 20ms 2ms loss 0.1%")`)
	var so SwarmOptions
	var ko K8sOptions
	var format string
	if engine == "swarm" {
		fs.BoolVar(&so.SingleNode, "single-node", false, "one-node swarm (tests): no placement by node label, no CPU reservations")
		fs.StringVar(&so.Secret, "secret", SecretName, "external Docker secret holding the token")
	} else {
		fs.StringVar(&format, "o", "yaml", "output: yaml or json (one v1 List)")
		fs.StringVar(&ko.Namespace, "namespace", "", "namespace of every object (default: kubectl's current)")
		fs.StringVar(&ko.Secret, "secret", "", "existing Secret with key \"token\" (default: print a Secret "+K8sSecret+" with a fresh random token)")
		fs.StringVar(&ko.ResultsPVC, "results-pvc", "", "PersistentVolumeClaim for the results folder (default: an emptyDir; the coordinator prints report.md to its log)")
		fs.IntVar(&ko.Deadline, "deadline", 7200, "activeDeadlineSeconds of the Jobs (the agents serve until then)")
	}
	fs.Usage = func() { fmt.Fprint(stderr, deployUsage); fs.PrintDefaults() }
	if err := cli.Parse(fs, args[1:], true); err != nil {
		return err
	}
	o.RunArgs = fs.Args()
	for _, a := range o.RunArgs {
		if strings.HasPrefix(a, "--server-agent") || strings.HasPrefix(a, "--load-agents") || strings.HasPrefix(a, "--out") {
			return cli.Usagef("run flag %s is set by the manifests", a)
		}
	}
	var err error
	if engine == "swarm" {
		so.Options = o
		err = WriteSwarm(stdout, so)
	} else {
		ko.Options = o
		err = WriteK8s(stdout, ko, format)
	}
	var ce *cli.Error
	if err != nil && !errors.As(err, &ce) {
		err = cli.Usage(err)
	}
	return err
}
