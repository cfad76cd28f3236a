package deploy

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/iobench/iobench/internal/netem"
	"sigs.k8s.io/yaml"
)

// Node labels that place the roles on a real swarm (docker node update --label-add):
// the server agent runs only on a node labelled RoleLabel=server, load agents only on nodes
// labelled RoleLabel=load, at most one load agent per node, so no loader shares the server's
// node and its CPUs. SwarmOptions.SingleNode drops them, for a one-node test swarm.
const (
	RoleLabel   = "iobench.role"
	RoleServer  = "server"
	RoleLoad    = "load"
	SecretName  = "iobench_token"
	NetworkName = "bench"
)

// Service names inside the stack; Docker names them <stack>_<name>, and the stack's network
// resolves the short names (and tasks.<name>, every replica's address).
const (
	SwarmServer      = "server"
	SwarmLoad        = "load"
	SwarmCoordinator = "coordinator"
)

// SwarmOptions adds what only a swarm stack has.
type SwarmOptions struct {
	Options
	SingleNode bool   // one-node swarm (tests): no role constraints or CPU reservations
	Secret     string // external Docker secret holding the token (default iobench_token)
}

// Compose is the part of the Compose file format (version 3.8, docker stack deploy) a stack
// uses. Field names are the format's.
type Compose struct {
	Version  string                    `json:"version"`
	Services map[string]ComposeService `json:"services"`
	Networks map[string]ComposeNetwork `json:"networks"`
	Secrets  map[string]ComposeSecret  `json:"secrets"`
	Volumes  map[string]struct{}       `json:"volumes,omitempty"`
}

// ComposeService is one service of a stack.
type ComposeService struct {
	Image       string            `json:"image"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment,omitempty"`
	Secrets     []string          `json:"secrets,omitempty"`
	Networks    []string          `json:"networks"`
	Volumes     []string          `json:"volumes,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Deploy      ComposeDeploy     `json:"deploy"`
}

// ComposeDeploy is a service's swarm placement and resources.
type ComposeDeploy struct {
	Mode          string            `json:"mode"`
	Replicas      int               `json:"replicas"`
	EndpointMode  string            `json:"endpoint_mode"`
	Labels        map[string]string `json:"labels,omitempty"`
	Placement     *ComposePlacement `json:"placement,omitempty"`
	Resources     ComposeResources  `json:"resources"`
	RestartPolicy map[string]string `json:"restart_policy"`
}

// ComposePlacement constrains the nodes a service's tasks run on.
type ComposePlacement struct {
	Constraints        []string `json:"constraints,omitempty"`
	MaxReplicasPerNode int      `json:"max_replicas_per_node,omitempty"`
}

// ComposeResources are CPU limits and reservations ("cpus" as a decimal string).
type ComposeResources struct {
	Limits       map[string]string `json:"limits"`
	Reservations map[string]string `json:"reservations,omitempty"`
}

// ComposeNetwork is the stack's overlay network.
type ComposeNetwork struct {
	Driver     string `json:"driver"`
	Attachable bool   `json:"attachable"`
}

// ComposeSecret refers to a secret created beforehand (docker secret create), so the token
// never appears in the stack file.
type ComposeSecret struct {
	External bool   `json:"external"`
	Name     string `json:"name,omitempty"`
}

// Swarm builds the stack. The endpoint mode is dnsrr everywhere: the agents are addressed
// task by task (tasks.load gives every loader replica's address), and a VIP would need IPVS,
// which not every swarm node's kernel has; no port is published (the traffic stays on the
// overlay network).
func Swarm(o SwarmOptions) (*Compose, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Secret == "" {
		o.Secret = SecretName
	}
	if o.Netem != "" {
		if err := haveNetem(); err != nil {
			return nil, err
		}
	}
	secretPath := "/run/secrets/" + o.Secret
	env := map[string]string{TokenFileEnv: secretPath}
	agent := func(role string, replicas, cpus int) ComposeService {
		s := ComposeService{
			Image: o.Image, Command: o.agentArgs(), Environment: env,
			Secrets: []string{o.Secret}, Networks: []string{NetworkName},
			Labels: map[string]string{RoleLabel: role},
			Deploy: ComposeDeploy{
				Mode: "replicated", Replicas: replicas, EndpointMode: "dnsrr",
				Resources:     cpuResources(cpus, !o.SingleNode),
				RestartPolicy: map[string]string{"condition": "on-failure"},
			},
		}
		if !o.SingleNode {
			s.Deploy.Placement = &ComposePlacement{Constraints: []string{fmt.Sprintf("node.labels.%s == %s", RoleLabel, role)}}
		}
		return s
	}
	server := agent(RoleServer, 1, o.ServerCPUs)
	load := agent(RoleLoad, o.Loaders, o.LoaderCPUs)
	if !o.SingleNode {
		load.Deploy.Placement.MaxReplicasPerNode = 1
	}
	if o.Netem != "" {
		load.Deploy.Labels = map[string]string{"iobench.netem": o.Netem}
	}
	coord := ComposeService{
		Image:       o.Image,
		Command:     o.coordinatorArgs(SwarmServer, []string{"tasks." + SwarmLoad}, "--engine", "swarm"),
		Environment: env, Secrets: []string{o.Secret}, Networks: []string{NetworkName},
		Volumes: []string{"results:" + ResultsDir},
		Labels:  map[string]string{RoleLabel: "coordinator"},
		Deploy: ComposeDeploy{
			Mode: "replicated", Replicas: 1, EndpointMode: "dnsrr",
			// The results volume is local to a node: keep it on a manager, where the stack
			// is deployed from and `docker cp` fetches the folder.
			Placement:     &ComposePlacement{Constraints: []string{"node.role == manager"}},
			Resources:     cpuResources(1, false),
			RestartPolicy: map[string]string{"condition": "none"}, // a suite runs once
		},
	}
	return &Compose{
		Version:  "3.8",
		Services: map[string]ComposeService{SwarmServer: server, SwarmLoad: load, SwarmCoordinator: coord},
		Networks: map[string]ComposeNetwork{NetworkName: {Driver: "overlay", Attachable: true}},
		Secrets:  map[string]ComposeSecret{o.Secret: {External: true}},
		Volumes:  map[string]struct{}{"results": {}},
	}, nil
}

// haveNetem is netemQdisc, replaced in tests to print the stack of a kernel that has it.
var haveNetem = netemQdisc

func cpuResources(cpus int, reserve bool) ComposeResources {
	r := ComposeResources{Limits: map[string]string{"cpus": strconv.Itoa(cpus) + ".0"}}
	if reserve {
		r.Reservations = map[string]string{"cpus": strconv.Itoa(cpus) + ".0"}
	}
	return r
}

// WriteSwarm prints the stack as YAML, after a header saying how to deploy it.
func WriteSwarm(w io.Writer, o SwarmOptions) error {
	c, err := Swarm(o)
	if err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	secret := o.Secret
	if secret == "" {
		secret = SecretName
	}
	hdr := []string{
		"iobench stack for Docker Swarm mode (iobench deploy swarm). Deploy with:",
		"  scripts/docker-image.sh        # the image " + DefaultImage + ", on every node (no registry: docker save | docker load)",
		"  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' | docker secret create " + secret + " -",
		"  docker stack deploy -c stack.yml iobench",
		"  # results: docker cp $(docker ps -aq -f label=com.docker.swarm.service.name=iobench_coordinator):" + ResultsDir + "/run .",
		"  docker stack rm iobench; docker secret rm " + secret + "; docker volume rm iobench_results",
	}
	if !o.SingleNode {
		hdr = append(hdr,
			"Placement: label one node for the server and the others for the load (one loader per node):",
			"  docker node update --label-add "+RoleLabel+"="+RoleServer+" NODE",
			"  docker node update --label-add "+RoleLabel+"="+RoleLoad+" NODE...")
	}
	if o.Netem != "" {
		spec, _ := netem.Parse(o.Netem) // validated
		hdr = append(hdr,
			"WAN links (netem "+o.Netem+"): applied from each node's host side to both ends of every load",
			"link (the load containers' and the server container's interface: a delay D adds 2D to a round",
			"trip), before the coordinator starts its windows:",
			"  for c in $(docker ps -q -f label=com.docker.swarm.service.name=iobench_"+SwarmServer+") \\",
			"           $(docker ps -q -f label=com.docker.swarm.service.name=iobench_"+SwarmLoad+"); do",
			"    nsenter -t $(docker inspect -f '{{.State.Pid}}' $c) -n tc qdisc replace dev eth0 root netem "+strings.Join(spec.TCArgs(), " "),
			"  done")
	}
	for _, l := range hdr {
		if _, err := fmt.Fprintf(w, "# %s\n", l); err != nil {
			return err
		}
	}
	_, err = w.Write(b)
	return err
}
