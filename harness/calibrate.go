package harness

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/iobench/iobench/results"
)

// The machine-speed probes (see results.SpeedIndexOf for the index they feed). Both run in
// this process, which a run pins to the load generator's CPUs, so they see the machine as the
// load generator does, and both are fixed work, so only the machine's speed moves them:
//
//   - the CPU loop: cpuLoopIterations rounds of xorshift64 and a multiply, no memory traffic;
//     its wall time, the median of cpuLoopRuns runs;
//   - the ping-pong: pingPongCount round trips of a 64-byte message over a loopback TCP
//     connection between two goroutines of this process (Go net, blocking reads and writes:
//     the kernel's loopback path, the poller and the scheduler); the median round trip, after
//     pingPongWarm unrecorded ones. Where a round trip takes over half a millisecond (Wine)
//     the count stops at pingPongBudget of measuring.

const (
	cpuLoopIterations = 1 << 21
	cpuLoopRuns       = 5
	pingPongCount     = 2000
	pingPongWarm      = 100
	pingPongBudget    = time.Second
)

var cpuLoopSink uint64

// cpuLoop is the fixed CPU-bound work of the speed probe.
func cpuLoop(n int) uint64 {
	x, acc := uint64(0x9E3779B97F4A7C15), uint64(0)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		acc += x * 0xBF58476D1CE4E5B9
	}
	return acc
}

// probeCPU returns the median wall time of the fixed CPU loop, ns.
func probeCPU() float64 {
	ts := make([]float64, cpuLoopRuns)
	for i := range ts {
		t0 := time.Now()
		cpuLoopSink += cpuLoop(cpuLoopIterations)
		ts[i] = float64(time.Since(t0))
	}
	return results.Median(ts)
}

// probePingPong returns the median loopback round trip of the fixed ping-pong, ns.
func probePingPong() (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				echoed <- nil // the client closed
				return
			}
			if _, err := c.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	msg, got := make([]byte, 64), make([]byte, 64)
	rtts := make([]float64, 0, pingPongCount)
	var began time.Time
	for i := range pingPongWarm + pingPongCount {
		if i == pingPongWarm {
			began = time.Now()
		} else if i > pingPongWarm && time.Since(began) > pingPongBudget {
			break
		}
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			c.Close()
			return 0, err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			c.Close()
			return 0, err
		}
		if i >= pingPongWarm {
			rtts = append(rtts, float64(time.Since(t0)))
		}
	}
	c.Close()
	if err := <-echoed; err != nil {
		return 0, err
	}
	return results.Median(rtts), nil
}

// speedProbe runs both probes.
func speedProbe() (cpuNs, pingPongNs float64, err error) {
	cpuNs = probeCPU()
	pingPongNs, err = probePingPong()
	if err != nil {
		return 0, 0, fmt.Errorf("speed probe: %w", err)
	}
	return cpuNs, pingPongNs, nil
}
