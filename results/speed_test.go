package results

import (
	"math"
	"testing"
)

func TestSpeedIndex(t *testing.T) {
	ref := SpeedIndexOf(SpeedRefCPULoopNs, SpeedRefPingPongNs)
	for _, tc := range []struct {
		name    string
		cpu, pp float64
		want    float64
	}{
		{"the reference machine", SpeedRefCPULoopNs, SpeedRefPingPongNs, 100},
		{"twice as fast at both", SpeedRefCPULoopNs / 2, SpeedRefPingPongNs / 2, 200},
		{"half as fast at both", 2 * SpeedRefCPULoopNs, 2 * SpeedRefPingPongNs, 50},
		{"only the network twice as slow", SpeedRefCPULoopNs, 2 * SpeedRefPingPongNs, 100 / math.Sqrt2},
		{"not measured", 0, SpeedRefPingPongNs, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SpeedIndexOf(tc.cpu, tc.pp); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("SpeedIndexOf = %v, want %v (reference %v)", got, tc.want, ref)
			}
		})
	}
}

func TestCalibrationDrift(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		cpuB, cpuA, ppB, ppA float64
		drift                float64
		drifted              bool
		index                float64
	}{
		{"stable", 10e6, 10.2e6, 25e3, 24.5e3, 0.02, false, SpeedIndexOf(math.Sqrt(10e6*10.2e6), math.Sqrt(25e3*24.5e3))},
		{"the network slowed 20 %", 10e6, 10e6, 25e3, 30e3, 0.20, true, SpeedIndexOf(10e6, math.Sqrt(25e3*30e3))},
		{"the CPU got faster by 15 %", 10e6, 8.5e6, 25e3, 25e3, 0.15, true, SpeedIndexOf(math.Sqrt(10e6*8.5e6), 25e3)},
		{"exactly 10 % is not a drift", 10e6, 11e6, 25e3, 25e3, 0.10, false, SpeedIndexOf(math.Sqrt(10e6*11e6), 25e3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCalibration(3, tc.cpuB, tc.cpuA, tc.ppB, tc.ppA)
			if c.Round != 3 || math.Abs(c.Drift-tc.drift) > 1e-9 || c.Drifted != tc.drifted || math.Abs(c.Index-tc.index) > 1e-9 {
				t.Fatalf("NewCalibration = %+v, want drift %v drifted %v index %v", c, tc.drift, tc.drifted, tc.index)
			}
		})
	}
	sp := NewSpeed([]Calibration{{Index: 90}, {Index: 120}, {Index: 100}})
	if sp == nil || sp.Index != 100 || len(sp.Rounds) != 3 {
		t.Fatalf("NewSpeed = %+v, want the median index 100", sp)
	}
	if NewSpeed(nil) != nil {
		t.Fatal("NewSpeed(nil) must be nil")
	}
}
