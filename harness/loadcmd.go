package harness

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// LoadCmd is `iobench load`: the load generator against any server speaking the protocol
// (raw echo: any RFC 862 echo server).
func LoadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("load", stderr)
	var c LoadConfig
	var protoName, jsonPath, scenario string
	fs.StringVar(&c.Target, "target", "", "server address HOST:PORT (required)")
	fs.StringVar(&protoName, "proto", "echo", "protocol: echo (any RFC 862 server), framed or sockperf")
	fs.IntVar(&c.Conns, "conns", 100, "connections")
	fs.IntVar(&c.Size, "size", 64, "message size in bytes on the wire")
	fs.IntVar(&c.Depth, "depth", 0, "closed loop: messages in flight per connection")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: total messages per second, paced independently of replies")
	fs.IntVar(&c.Burst, "burst", 1, "open loop: messages sent back to back on one connection per pacer event (the rate stays --rate)")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "measured window")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "warm-up before the window (not measured)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "bound on the whole connect phase (every connection up)")
	fs.StringVar(&c.ClientBackend, "client-backend", "", "client backend (default: "+DefaultClientBackend()+", the cheapest available)")
	fs.IntVar(&c.Loops, "loops", 0, "client event loops (0 = GOMAXPROCS)")
	fs.IntVar(&c.Room, "room", 0, "broadcast: room size of a `serve --proto broadcast` server (framed; 0 = plain echo)")
	fs.StringVar(&jsonPath, "json", "", "also write the result as an iobench results JSON file")
	fs.StringVar(&scenario, "scenario", "", "scenario name recorded in --json (default: pingpong, pipelined or broadcast from the flags)")
	if err := cli.Parse(fs, args, false); err != nil {
		return err
	}
	p, err := proto.Parse(protoName)
	if err != nil {
		return cli.Usage(err)
	}
	c.Proto = p
	if c.Room > 0 {
		// Standalone, the load cannot ask the server whether every session joined its room:
		// it probes the rooms before the traffic instead (LoadConfig.JoinCheck).
		c.Broadcast, c.JoinCheck = true, true
	}
	if err := c.Validate(); err != nil {
		return cli.Usage(err)
	}
	started := time.Now().UTC()
	res, err := Load(ctx, c)
	if err != nil && res == nil {
		if ctx.Err() != nil {
			return cli.Interrupted(fmt.Errorf("interrupted before the load started: %w", err))
		}
		return cli.Failure(err)
	}
	r := loadResult(res, scenario)
	printLoad(stdout, r, res)
	if jsonPath != "" {
		run := &results.Run{SchemaVersion: results.SchemaVersion, Started: started, Finished: time.Now().UTC(),
			Suite: "load", Env: environment(), Results: []results.Result{r}}
		run.Env.GOMAXPROCS = 0 // the server's: unknown to a standalone load
		if err := results.WriteRunFile(jsonPath, run); err != nil {
			return cli.Failure(err)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return cli.Interrupted(fmt.Errorf("interrupted: the figures above cover %v of the %v window", res.Window.Round(time.Millisecond), c.Duration))
		}
		return cli.Failure(err)
	}
	if !res.OK() {
		return cli.Failure(fmt.Errorf("verification failed: %s", verifyText(res.Verify, res.FirstError)))
	}
	if res.Errors > 0 {
		return cli.Failure(fmt.Errorf("%d connection errors: %s", res.Errors, res.FirstError))
	}
	return nil
}

func verifyText(v results.Verify, first string) string {
	s := fmt.Sprintf("sent %d received %d lost %d corrupt %d reordered %d duplicated %d",
		v.Sent, v.Received, v.Lost, v.Corrupt, v.Reordered, v.Duplicated)
	if first != "" {
		s += " (first: " + first + ")"
	}
	return s
}

// loadResult turns a load into a one-repetition Result.
func loadResult(res *LoadResult, scenario string) results.Result {
	c := res.Config
	if scenario == "" {
		switch {
		case c.Broadcast:
			scenario = results.ScenarioBroadcast
		case c.Depth > 1:
			scenario = results.ScenarioPipelined
		default:
			scenario = results.ScenarioPingPong
		}
	}
	mode := results.ModeClosed
	if c.Rate > 0 {
		mode = results.ModeOpen
	}
	f := res.Figures()
	// A standalone load does not see the server: the verdict can only be "client" (the load
	// generator saturated its CPUs, so the throughput is a lower bound) or unknown.
	f.Bottleneck = results.BottleneckUnknown
	if u := clientUtil(res); u != nil && *u >= Saturation {
		f.Bottleneck = results.BottleneckClient
		f.Note = strings.TrimSpace(f.Note + fmt.Sprintf(" load generator used %.0f%% of its %d CPU(s): client-bound", *u*100, runtime.GOMAXPROCS(0)))
	}
	r := results.Result{Backend: "external", ClientBackend: c.ClientBackend, Scenario: scenario,
		Proto: string(c.Proto), Conns: c.Conns, Size: c.Size, Depth: c.Depth, Rate: c.Rate, Mode: mode,
		Repetitions: []results.Rep{{Index: 0, Figures: f}}}
	if c.Broadcast {
		r.Proto = "broadcast"
	}
	if !res.OK() {
		r.Repetitions[0].Error = "verification failed: " + verifyText(res.Verify, res.FirstError)
	}
	results.Summarize(&r)
	if r.LatencyCI == nil { // one repetition: its tail confidence is the result's
		r.LatencyCI, r.LatencySamples = f.LatencyCI, f.LatencySamples
	}
	if !res.OK() {
		r.Error = r.Repetitions[0].Error
	}
	return r
}

func printLoad(w io.Writer, r results.Result, res *LoadResult) {
	fmt.Fprintf(w, "%s -> %s (%s, client %s)\n", r.Key(), res.Config.Target, r.Mode, r.ClientBackend)
	bound := ""
	if r.Bottleneck == results.BottleneckClient {
		bound = " (client-bound: the load generator saturated; the server may do more)"
	}
	fmt.Fprintf(w, "  window %v: %s msgs/s, %s MB/s%s\n", res.Window.Round(time.Millisecond),
		fmtNum(r.MsgsPerSec, 0), fmtNum(r.MBPerSec, 2), bound)
	if l := r.Latency; l != nil {
		fmt.Fprintf(w, "  latency p50 %s p90 %s p99 %s p99.9 %s max %s\n",
			fmtNs(l.P50), fmtNs(l.P90), fmtNs(l.P99), fmtNs(l.P999), fmtNs(l.Max))
		if ci := r.LatencyCI; ci != nil && r.LatencySamples > 0 {
			iv := func(p float64, v *[2]float64) string {
				if !results.EnoughTailSamples(r.LatencySamples, p) {
					return "too few samples"
				}
				if v == nil {
					return "n/a"
				}
				return "[" + fmtNs(&v[0]) + ", " + fmtNs(&v[1]) + "]"
			}
			fmt.Fprintf(w, "  95%% CI over %d samples: p50 %s p99 %s p99.9 %s\n", r.LatencySamples,
				iv(0.5, ci.P50), iv(0.99, ci.P99), iv(0.999, ci.P999))
		}
	} else {
		fmt.Fprintf(w, "  latency n/a (no reply in the window)\n")
	}
	cpu := "n/a"
	if r.Client != nil && r.Client.CPUNsPerMsg != nil {
		cpu = fmtNum(r.Client.CPUNsPerMsg, 0) + " ns/msg"
	}
	if u := clientUtil(res); u != nil {
		cpu += fmt.Sprintf(" (%.0f%% of %d CPU(s))", *u*100, runtime.GOMAXPROCS(0))
	}
	fmt.Fprintf(w, "  load generator CPU %s\n", cpu)
	fmt.Fprintf(w, "  verify: %s\n", verifyText(res.Verify, res.FirstError))
}

// fmtNum prints a measured value or n/a.
func fmtNum(p *float64, prec int) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, *p)
}

// fmtNs prints a duration in ns with a readable unit, or n/a.
func fmtNs(p *float64) string {
	if p == nil {
		return "n/a"
	}
	d := time.Duration(*p)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// clientUtil is this process's CPU over the window divided by the CPUs it can run on
// (GOMAXPROCS, capped by the affinity mask); nil when unknown.
func clientUtil(res *LoadResult) *float64 {
	if res.ClientCPU < 0 || res.Window <= 0 {
		return nil
	}
	n := runtime.GOMAXPROCS(0)
	if c := numCPU(); c > 0 && c < n {
		n = c
	}
	return results.Val(float64(res.ClientCPU) / float64(res.Window) / float64(n))
}
