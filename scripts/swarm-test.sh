#!/usr/bin/env bash
# swarm-test.sh: the swarm stack of `iobench deploy swarm`, run for real on this machine as a
# single-node Docker Swarm (issue 16): build the image (scripts/docker-image.sh), `docker swarm
# init` if this node is in no swarm, deploy the stack with 2 load replicas, let its
# coordinator run a short pingpong suite on one backend through the agents, copy run.json out
# of the coordinator's container and check it (scripts/swarmcheck: verified results, the
# topology, every load agent's CPU), then remove everything, also after a failure or Ctrl-C:
# afterwards `docker stack ls`, `docker ps -a`, `docker network ls`, `docker volume ls` and
# `docker secret ls` show nothing of it, and a swarm this script initialised is left again.
#
# The stack's part (deploy to clean-up) is bounded to 3 minutes; the image build before it is
# bounded separately (a cold static build of iobench takes minutes on 2 loaded cores).
#
# Usage: scripts/swarm-test.sh [backend]        (default epoll; exit 0 passed, 1 failed)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
backend=${1:-epoll}
stack="iobench-ci-$$"
secret="${stack}_token"
work=$(mktemp -d)
initialised=0
gwbridge_before=$(docker network ls -q -f name='^docker_gwbridge$')
fail() { echo "swarm-test: $*"; exit 1; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	docker stack rm "$stack" >/dev/null 2>&1
	# Tasks' containers and the network go asynchronously after stack rm: wait (bounded).
	for _ in $(seq 60); do
		[ -z "$(docker ps -aq -f label=com.docker.stack.namespace="$stack")" ] &&
			[ -z "$(docker network ls -q -f label=com.docker.stack.namespace="$stack")" ] && break
		sleep 1
	done
	docker secret rm "$secret" >/dev/null 2>&1
	docker volume rm "${stack}_results" >/dev/null 2>&1
	# The rev tag this run made (iobench:dev, the documented tag, stays).
	[ -n "${tag:-}" ] && [ "$tag_before" = "" ] && docker rmi "$tag" >/dev/null 2>&1
	if [ $initialised = 1 ]; then
		docker swarm leave --force >/dev/null 2>&1
		# swarm init made docker_gwbridge; leave it as found.
		# (its ingress endpoint goes a moment after the leave: retry, bounded).
		if [ -z "$gwbridge_before" ]; then
			for _ in $(seq 20); do docker network rm docker_gwbridge >/dev/null 2>&1 && break; sleep 1; done
		fi
	fi
	if [ $initialised = 1 ] && [ -z "$gwbridge_before" ] && [ -n "$(docker network ls -q -f name='^docker_gwbridge$')" ]; then
		echo "swarm-test: left behind: docker_gwbridge (made by this test's swarm init)"; rc=1
	fi
	left=$( (docker stack ls 2>/dev/null; docker ps -a; docker network ls; docker volume ls; docker secret ls 2>/dev/null) | grep -F "$stack")
	if [ -n "$left" ]; then
		echo "swarm-test: left behind:"; echo "$left"; rc=1
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

docker info >/dev/null 2>&1 || fail "docker is not usable here"
echo "swarm-test: building the image"
tb=$(date +%s)
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
tag_before=$(docker images -q "iobench:$rev*")
tag=$(timeout 600 scripts/docker-image.sh) || fail "image build failed"
t0=$(date +%s)
echo "swarm-test: image $tag built in $((t0 - tb)) s"
left() { echo $((180 - ($(date +%s) - t0))); }

case $(docker info -f '{{.Swarm.LocalNodeState}}') in
inactive)
	docker swarm init --advertise-addr 127.0.0.1 >/dev/null || fail "docker swarm init failed"
	initialised=1 ;;
active) ;;
*) fail "this node is in a swarm state this test does not touch: $(docker info -f '{{.Swarm.LocalNodeState}}')" ;;
esac

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | docker secret create "$secret" - >/dev/null || fail "docker secret create failed"
# The stack file comes from the image itself: the command under test is the one shipped.
docker run --rm "$tag" deploy swarm --backend "$backend" --loaders 2 --single-node --secret "$secret" --image "$tag" -- \
	--scenarios pingpong --reps 1 --duration 1s --warmup 200ms --aa none --ladder 0.5 >"$work/stack.yml" ||
	fail "iobench deploy swarm failed"
docker stack deploy -c "$work/stack.yml" "$stack" >/dev/null || fail "docker stack deploy failed"

coord="${stack}_coordinator"
state=""
while [ "$(left)" -gt 20 ]; do
	state=$(docker service ps "$coord" --format '{{.CurrentState}}' 2>/dev/null | head -1)
	case $state in Complete* | Failed* | Rejected* | Shutdown*) break ;; esac
	sleep 2
done
echo "swarm-test: coordinator $state"
cid=$(docker ps -aq -f label=com.docker.swarm.service.name="$coord" | head -1)
[ -n "$cid" ] || fail "no coordinator container"
docker logs "$cid" >"$work/coordinator.log" 2>&1
case $state in Complete*) ;; *)
	tail -n 30 "$work/coordinator.log"
	for s in server load; do docker service logs --raw "${stack}_$s" 2>&1 | tail -n 5; done
	fail "the coordinator did not complete within the bound (state: ${state:-none})" ;;
esac
docker cp "$cid:/results/run" "$work/run" || fail "docker cp of the results folder failed"
timeout "$(left)" go run ./scripts/swarmcheck -loaders 2 -backend "$backend" "$work/run/run.json" ||
	{ tail -n 30 "$work/coordinator.log"; fail "run.json check failed"; }
echo "swarm-test: passed in $(($(date +%s) - t0)) s after the image build"
