// Package netem emulates a WAN link: a fixed delay with jitter, random loss and an optional
// rate limit per direction, as Linux's netem qdisc does (tc-netem(8)). Spec parses the
// subset of tc netem's syntax iobench accepts; TCArgs gives it back for `tc qdisc ... netem`
// where the kernel has sch_netem; Link is the user-space equivalent for kernels without it:
// a forwarder between two packet devices (TUN, see OpenTUN) that holds every packet for its
// delay, keeps packets in order per direction (netem's default without reordering options),
// drops the lost ones and paces a rate.
package netem

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Spec is the emulation of one direction of a link (both directions get the same).
type Spec struct {
	Text    string        // as given
	Delay   time.Duration // added to every packet
	Jitter  time.Duration // uniform in [−Jitter, +Jitter] around Delay (never below 0)
	LossPct float64       // percent of packets dropped, 0..100
	RateBps int64         // bits per second (0: unlimited)
}

// MaxDelay bounds delay and jitter: a WAN is seconds at worst; more is a typo.
const MaxDelay = 10 * time.Second

// Parse reads a netem spec: "delay D [J]", "loss P%", "rate R" in any order, each at most
// once, e.g. "delay 20ms 2ms loss 0.1%". D and J are Go durations ("20ms", "1.5ms", "0"),
// P a percentage with its % sign, R a rate with a unit (bit, kbit, mbit, gbit; bps, kbps,
// mbps, gbps are bytes per second as in tc). Anything else is an error naming the token.
func Parse(s string) (Spec, error) {
	sp := Spec{Text: strings.Join(strings.Fields(s), " ")}
	f := strings.Fields(s)
	if len(f) == 0 {
		return sp, errors.New(`netem: empty spec (want e.g. "delay 20ms 2ms loss 0.1%")`)
	}
	seen := map[string]bool{}
	for i := 0; i < len(f); i++ {
		kw := f[i]
		if seen[kw] {
			return sp, fmt.Errorf("netem: %q given twice", kw)
		}
		seen[kw] = true
		next := func(what string) (string, error) {
			if i+1 >= len(f) {
				return "", fmt.Errorf("netem: %s needs %s", kw, what)
			}
			i++
			return f[i], nil
		}
		switch kw {
		case "delay":
			v, err := next("a duration, e.g. 20ms")
			if err != nil {
				return sp, err
			}
			if sp.Delay, err = duration(v); err != nil {
				return sp, err
			}
			if i+1 < len(f) && f[i+1][0] >= '0' && f[i+1][0] <= '9' { // a jitter
				i++
				if sp.Jitter, err = duration(f[i]); err != nil {
					return sp, err
				}
			}
		case "loss":
			v, err := next("a percentage, e.g. 0.1%")
			if err != nil {
				return sp, err
			}
			num, ok := strings.CutSuffix(v, "%")
			p, perr := strconv.ParseFloat(num, 64)
			if !ok || perr != nil || p < 0 || p > 100 || p != p {
				return sp, fmt.Errorf("netem: loss %q: want a percentage 0%%..100%% with its %% sign", v)
			}
			sp.LossPct = p
		case "rate":
			v, err := next("a rate, e.g. 100mbit")
			if err != nil {
				return sp, err
			}
			if sp.RateBps, err = rate(v); err != nil {
				return sp, err
			}
		default:
			return sp, fmt.Errorf("netem: unknown %q (want delay D [J], loss P%%, rate R)", kw)
		}
	}
	return sp, nil
}

func duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if s == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 || d > MaxDelay {
		return 0, fmt.Errorf("netem: duration %q: want 0..%v with a unit, e.g. 20ms", s, MaxDelay)
	}
	return d, nil
}

func rate(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{ // longest suffix first
		{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3}, {"bit", 1}, {"bps", 8},
	}
	low := strings.ToLower(s)
	for _, u := range units {
		if num, ok := strings.CutSuffix(low, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || !(v > 0) || v*u.mult > 1e12 {
				break
			}
			return int64(v * u.mult), nil
		}
	}
	return 0, fmt.Errorf("netem: rate %q: want a positive number with a unit (bit, kbit, mbit, gbit, bps, kbps, mbps, gbps)", s)
}

// TCArgs are the arguments after `tc qdisc add dev X root netem`.
func (s Spec) TCArgs() []string {
	var a []string
	if s.Delay > 0 || s.Jitter > 0 {
		a = append(a, "delay", tcTime(s.Delay))
		if s.Jitter > 0 {
			a = append(a, tcTime(s.Jitter))
		}
	}
	if s.LossPct > 0 {
		a = append(a, "loss", strconv.FormatFloat(s.LossPct, 'f', -1, 64)+"%")
	}
	if s.RateBps > 0 {
		a = append(a, "rate", strconv.FormatInt(s.RateBps, 10)+"bit")
	}
	return a
}

func tcTime(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }

// QueueLimit is the packets a direction holds at most (netem's default limit, 1000); a
// packet arriving at a full queue is dropped and counted.
const QueueLimit = 1000

// Stats count one direction's packets.
type Stats struct {
	Forwarded, Lost, Overflow uint64
}

// Link forwards packets between a and b in both directions through the emulation.
type Link struct {
	dirs      [2]*pipe
	closers   []io.Closer
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// PacketDevice reads and writes one packet per call (a TUN device in IFF_TUN|IFF_NO_PI mode).
type PacketDevice interface {
	io.ReadWriteCloser
}

// NewLink starts forwarding a→b and b→a with spec in each direction; seed makes the loss
// and jitter draws reproducible.
func NewLink(a, b PacketDevice, spec Spec, seed uint64) *Link {
	l := &Link{closers: []io.Closer{a, b}}
	l.dirs[0] = newPipe(a, b, spec, rand.New(rand.NewPCG(seed, 1)))
	l.dirs[1] = newPipe(b, a, spec, rand.New(rand.NewPCG(seed, 2)))
	for _, p := range l.dirs {
		l.wg.Add(2)
		go func() { defer l.wg.Done(); p.read() }()
		go func() { defer l.wg.Done(); p.write() }()
	}
	return l
}

// Stats are the counts of a→b and b→a.
func (l *Link) Stats() (ab, ba Stats) { return l.dirs[0].stats(), l.dirs[1].stats() }

// Close stops both directions and closes both devices.
func (l *Link) Close() error {
	var err error
	l.closeOnce.Do(func() {
		for _, p := range l.dirs {
			p.stop()
		}
		for _, c := range l.closers {
			err = errors.Join(err, c.Close())
		}
		l.wg.Wait()
	})
	return err
}

type packet struct {
	data []byte
	due  time.Time
}

// pipe is one direction: read packets from in, hold each until its due time, write to out.
type pipe struct {
	in, out io.ReadWriter
	spec    Spec
	rng     *rand.Rand
	q       chan packet
	done    chan struct{}
	once    sync.Once

	lastDue, lastTx       time.Time
	fwd, lost, overflowed atomic.Uint64
}

func newPipe(in, out io.ReadWriter, spec Spec, rng *rand.Rand) *pipe {
	return &pipe{in: in, out: out, spec: spec, rng: rng, q: make(chan packet, QueueLimit), done: make(chan struct{})}
}

func (p *pipe) stop() { p.once.Do(func() { close(p.done) }) }

func (p *pipe) stats() Stats {
	return Stats{Forwarded: p.fwd.Load(), Lost: p.lost.Load(), Overflow: p.overflowed.Load()}
}

// due is the departure time of a packet of n bytes arriving now: its delay with jitter, no
// earlier than the previous packet's (order kept), and after the previous one's transmission
// at the rate.
func (p *pipe) dueOf(now time.Time, n int) time.Time {
	d := p.spec.Delay
	if j := p.spec.Jitter; j > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*j)+1)) - j
		d = max(d, 0)
	}
	due := now.Add(d)
	if p.spec.RateBps > 0 {
		start := now
		if p.lastTx.After(start) {
			start = p.lastTx
		}
		p.lastTx = start.Add(time.Duration(float64(n*8) / float64(p.spec.RateBps) * 1e9))
		if p.lastTx.Add(d).After(due) {
			due = p.lastTx.Add(d)
		}
	}
	if due.Before(p.lastDue) {
		due = p.lastDue
	}
	p.lastDue = due
	return due
}

func (p *pipe) read() {
	defer close(p.q)
	buf := make([]byte, 65536)
	for {
		n, err := p.in.Read(buf)
		if err != nil {
			return // closed
		}
		if n == 0 {
			continue
		}
		if p.spec.LossPct > 0 && p.rng.Float64()*100 < p.spec.LossPct {
			p.lost.Add(1)
			continue
		}
		pk := packet{data: append([]byte(nil), buf[:n]...), due: p.dueOf(time.Now(), n)}
		select {
		case p.q <- pk:
		case <-p.done:
			return
		default:
			p.overflowed.Add(1)
		}
	}
}

func (p *pipe) write() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for pk := range p.q {
		if d := time.Until(pk.due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-p.done:
				return
			}
		}
		if _, err := p.out.Write(pk.data); err != nil {
			select {
			case <-p.done:
				return
			default:
				continue // a packet the device refused (e.g. down): dropped as a link would
			}
		}
		p.fwd.Add(1)
	}
}
