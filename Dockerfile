# The iobench image: one static binary on an empty base, built from the repository alone.
#
# No container registry is reachable from the machines this project runs on, so no base image
# can be pulled: neither golang:… for a build stage nor a distribution for the run stage. A
# multi-stage build (compile inside the image) is therefore impossible here; the binary is
# compiled on the host with the Go toolchain, static (CGO_ENABLED=0: it links no libc and needs
# no loader), and copied onto `scratch`. scripts/docker-image.sh does both steps and tags the
# image iobench:<git-rev> and iobench:dev, the tag `iobench deploy swarm|k8s` uses by default:
#
#   scripts/docker-image.sh                      # or, by hand:
#   CGO_ENABLED=0 go build -trimpath -o iobench ./cmd/iobench && docker build -t iobench:dev .
#
# The image holds nothing but /iobench (and an empty /results for the coordinator's results
# folder): no shell, no perf, no git. What a probe cannot see inside a container (perf
# syscall counts without perf, the host's other processes) is recorded as null, as everywhere.
FROM scratch
# The label lets scripts/docker-image.sh prune the untagged images its rebuilds leave.
LABEL org.opencontainers.image.title=iobench
COPY iobench /iobench
# WORKDIR creates the folder in the image, so a volume mounted there starts empty and writable.
WORKDIR /results
ENTRYPOINT ["/iobench"]
CMD ["backends"]
