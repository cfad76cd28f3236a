package harness

import "testing"

// The speed probes are fixed work: the CPU loop computes the same value every time, and the
// ping-pong completes its fixed count over a real loopback connection. No speed is asserted.
func TestSpeedProbes(t *testing.T) {
	if a, b := cpuLoop(1000), cpuLoop(1000); a != b || a == 0 {
		t.Fatalf("cpuLoop is not fixed work: %d then %d", a, b)
	}
	if cpuLoop(1000) == cpuLoop(1001) {
		t.Fatal("cpuLoop ignores its iteration count")
	}
	cpu, pp, err := speedProbe()
	if err != nil {
		t.Fatal(err)
	}
	if !(cpu > 0 && pp > 0) {
		t.Fatalf("probe times %v ns and %v ns", cpu, pp)
	}
}
