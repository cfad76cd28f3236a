// Package deploy prints the manifests that run an iobench suite across hosts on the engines
// teams already run, and holds the coordinator's start-up step they share.
//
// A distributed run is three roles, all the same image (the Dockerfile's static binary on
// scratch, tagged iobench:dev by scripts/docker-image.sh):
//
//   - one server agent (`iobench agent`), alone on its node: it starts and probes the
//     `iobench serve` children under test;
//   - N load agents (`iobench agent`), never on the server's node, each running its share of
//     the load generator;
//   - one coordinator, `iobench deploy coordinate ... -- run ...`: it waits until the server
//     agent and all N load agents resolve and accept connections, then runs `iobench run
//     --server-agent ... --load-agents ...` (same suites, interleaving, repetitions and report
//     as on one machine) and writes the results folder.
//
// Every request to an agent carries a shared token; the manifests take it from the engine's
// secret store (a Docker secret file, a Kubernetes Secret), never from the manifest's text
// unless a Secret object is printed with it.
//
// `iobench deploy swarm` prints a Compose file for `docker stack deploy` (Docker Swarm mode):
// see swarm.go for its layout and node labels. `iobench deploy k8s` prints Kubernetes objects
// built with the official Go types (k8s.io/api): see k8s.go. Both are plain functions of
// Options, tested by decoding what they print.
package deploy
