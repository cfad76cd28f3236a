package netem

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Spec
		tc, err string
	}{
		{in: "delay 20ms 2ms loss 0.1%", want: Spec{Delay: 20 * time.Millisecond, Jitter: 2 * time.Millisecond, LossPct: 0.1}, tc: "delay 20000us 2000us loss 0.1%"},
		{in: "delay 5ms", want: Spec{Delay: 5 * time.Millisecond}, tc: "delay 5000us"},
		{in: " loss 1%  delay 1.5ms ", want: Spec{Delay: 1500 * time.Microsecond, LossPct: 1}, tc: "delay 1500us loss 1%"},
		{in: "rate 10mbit delay 0", want: Spec{RateBps: 10e6}, tc: "rate 10000000bit"},
		{in: "rate 1mbps", want: Spec{RateBps: 8e6}, tc: "rate 8000000bit"},
		{in: "", err: "empty"},
		{in: "delay", err: "delay needs"},
		{in: "delay 5", err: `duration "5"`},
		{in: "delay -1ms", err: `duration "-1ms"`},
		{in: "delay 11s", err: "duration"},
		{in: "delay 5ms delay 6ms", err: "twice"},
		{in: "loss 0.1", err: "with its % sign"},
		{in: "loss 101%", err: "0%..100%"},
		{in: "loss NaN%", err: "loss"},
		{in: "rate 10", err: "rate"},
		{in: "rate 0mbit", err: "rate"},
		{in: "delay 5ms duplicate 1%", err: `unknown "duplicate"`},
		{in: "delay 5ms 1ms 2ms", err: `unknown "2ms"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Text = ""
			if got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
			if a := strings.Join(got.TCArgs(), " "); a != tc.tc {
				t.Fatalf("tc args %q, want %q", a, tc.tc)
			}
		})
	}
}

// chanDev is a packet device over channels: what the test writes into in is read by the
// link; what the link writes comes out on out.
type chanDev struct {
	in, out chan []byte
	once    sync.Once
	closed  chan struct{}
}

func newDev() *chanDev {
	return &chanDev{in: make(chan []byte, 4096), out: make(chan []byte, 4096), closed: make(chan struct{})}
}

func (d *chanDev) Read(p []byte) (int, error) {
	select {
	case b := <-d.in:
		return copy(p, b), nil
	case <-d.closed:
		return 0, io.EOF
	}
}

func (d *chanDev) Write(p []byte) (int, error) {
	select {
	case d.out <- append([]byte(nil), p...):
		return len(p), nil
	case <-d.closed:
		return 0, errors.New("closed")
	}
}

func (d *chanDev) Close() error { d.once.Do(func() { close(d.closed) }); return nil }

// Every packet is held at least its delay (minus the jitter), packets keep their order per
// direction, and the loss rate is about the one asked for.
func TestLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		n    int
	}{
		{"delay", Spec{Delay: 5 * time.Millisecond}, 200},
		{"jitter keeps order", Spec{Delay: 3 * time.Millisecond, Jitter: 2 * time.Millisecond}, 500},
		{"loss", Spec{LossPct: 20}, 2000},
		{"rate", Spec{RateBps: 8e6}, 100}, // 1000-byte packets: 1 ms each
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newDev(), newDev()
			l := NewLink(a, b, tc.spec, 42)
			defer l.Close()
			size := 16
			if tc.spec.RateBps > 0 {
				size = 1000
			}
			sent := make([]time.Time, tc.n)
			start := time.Now()
			for i := range tc.n {
				p := make([]byte, size)
				p[0], p[1] = byte(i>>8), byte(i)
				sent[i] = time.Now()
				a.in <- p
				if i%50 == 49 {
					time.Sleep(time.Millisecond) // below the queue limit
				}
			}
			got, last := 0, -1
			timeout := time.After(10 * time.Second)
			want := tc.n
			if tc.spec.LossPct > 0 {
				want = tc.n * 7 / 10
			}
			for got < want {
				select {
				case p := <-b.out:
					i := int(p[0])<<8 | int(p[1])
					if i <= last {
						t.Fatalf("packet %d after %d: order not kept", i, last)
					}
					if d := time.Since(sent[i]); d < tc.spec.Delay-tc.spec.Jitter {
						t.Fatalf("packet %d held %v, want ≥ %v", i, d, tc.spec.Delay-tc.spec.Jitter)
					}
					last = i
					got++
				case <-timeout:
					t.Fatalf("%d of %d packets after 10 s", got, want)
				}
			}
			time.Sleep(50 * time.Millisecond)
			ab, ba := l.Stats()
			if ba.Forwarded != 0 {
				t.Fatalf("b→a forwarded %d packets nobody sent", ba.Forwarded)
			}
			if tc.spec.LossPct > 0 {
				if frac := float64(ab.Lost) / float64(tc.n); frac < 0.15 || frac > 0.25 {
					t.Fatalf("lost %d of %d, want about 20%%", ab.Lost, tc.n)
				}
			}
			if ab.Overflow != 0 || ab.Forwarded+ab.Lost != uint64(tc.n) {
				t.Fatalf("stats %+v", ab)
			}
			if tc.spec.RateBps > 0 {
				if el := time.Since(start); el < time.Duration(tc.n-1)*time.Millisecond {
					t.Fatalf("%d packets of 1000 bytes at 8 Mbit/s in %v, want ≥ %v", tc.n, el, time.Duration(tc.n-1)*time.Millisecond)
				}
			}
		})
	}
}
