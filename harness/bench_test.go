package harness

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// BenchmarkLoadgen measures the load generator's own cost: CPU of this process per message
// (client-ns/msg) for every available client backend, against a netstd echo server in a
// child process pinned to the other half of the CPUs, exactly as `iobench run` arranges it.
// Each sub-benchmark is one 2 s load (run with -benchtime 1x):
//
//	go test -run '^$' -bench Loadgen -benchtime 1x ./harness
func BenchmarkLoadgen(b *testing.B) {
	cpus := allowedCPUs()
	var serverCPUs, clientCPUs []int
	if len(cpus) >= 2 {
		serverCPUs, clientCPUs = cpus[:len(cpus)/2], cpus[len(cpus)/2:]
		if err := pinProcess(0, clientCPUs); err != nil {
			b.Fatal(err)
		}
		prev := runtime.GOMAXPROCS(len(clientCPUs))
		b.Cleanup(func() { pinProcess(0, cpus); runtime.GOMAXPROCS(prev) })
	}
	for _, client := range models.Available() {
		for _, depth := range []int{1, 8} {
			name := fmt.Sprintf("client=%s/conns=100/size=64/depth=%d", client, depth)
			b.Run(name, func(b *testing.B) {
				args := []string{"--backend", "netstd", "--proto", "echo", "--addr", "127.0.0.1:0"}
				if len(serverCPUs) > 0 {
					args = append(args, "--gomaxprocs", itoa(len(serverCPUs)))
				}
				srv, err := startServer(context.Background(), testExe, args)
				if err != nil {
					b.Fatal(err)
				}
				defer srv.stop()
				if len(serverCPUs) > 0 {
					if err := pinProcess(srv.pid(), serverCPUs); err != nil {
						b.Fatal(err)
					}
				}
				var msgs, cpu float64
				for b.Loop() {
					res, err := Load(context.Background(), LoadConfig{Target: srv.addr, Proto: proto.Echo,
						Conns: 100, Size: 64, Depth: depth, Warmup: 300 * time.Millisecond,
						Duration: 2 * time.Second, ClientBackend: client, Loops: max(len(clientCPUs), 1)})
					if err != nil {
						b.Fatal(err)
					}
					if !res.OK() || res.Msgs == 0 || res.ClientCPU < 0 {
						b.Fatalf("load failed: %+v %s", res.Verify, res.FirstError)
					}
					msgs += float64(res.Msgs) / res.Window.Seconds()
					cpu += float64(res.ClientCPU) / float64(res.Msgs)
				}
				n := float64(b.N)
				b.ReportMetric(cpu/n, "client-ns/msg")
				b.ReportMetric(msgs/n, "msgs/s")
			})
		}
	}
}
