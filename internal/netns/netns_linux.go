package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/iobench/iobench/internal/netem"
	"github.com/iobench/iobench/results"
)

// Check reports why a netns topology cannot be built here: not root, or no iproute2.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("--topology netns needs root (network namespaces, veth, bridge, TUN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("--topology netns needs iproute2 (the ip command): apt-get install iproute2")
	}
	return nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// owner is the pid in a name made by this package ("iob-PID-..." or "iobPID..."), 0 if none.
func owner(name string) int {
	rest, ok := strings.CutPrefix(name, "iob")
	if !ok {
		return 0
	}
	rest = strings.TrimPrefix(rest, "-")
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	pid, err := strconv.Atoi(rest[:n])
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// names lists this package's namespaces and links (of any pid).
func names() (nss, links []string, err error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ip netns list: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && owner(f[0]) > 0 {
			nss = append(nss, f[0])
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ip link show: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if owner(name) > 0 {
			links = append(links, name)
		}
	}
	return nss, links, nil
}

// Leftovers lists every namespace and link of this package that exists now.
func Leftovers() ([]string, error) {
	nss, links, err := names()
	return append(nss, links...), err
}

// cleanStale removes the namespaces (and their processes) and links of dead pids.
func cleanStale(log io.Writer) error {
	nss, links, err := names()
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if alive(owner(ns)) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
			for _, p := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(p); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		fmt.Fprintf(log, "netns: removing %s, left by dead pid %d\n", ns, owner(ns))
		if err := ip("netns", "del", ns); err != nil {
			return err
		}
	}
	for _, l := range links {
		if !alive(owner(l)) {
			fmt.Fprintf(log, "netns: removing link %s, left by dead pid %d\n", l, owner(l))
			ip("link", "del", l) // a veth end may have gone with its namespace meanwhile
		}
	}
	return nil
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// Setup builds the topology of o (after removing what dead processes left). On an error,
// everything made so far is removed again.
func Setup(ctx context.Context, o Options) (t *Topology, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if o.Loaders < 1 || o.Loaders > 64 {
		return nil, fmt.Errorf("--loaders %d: want 1..64", o.Loaders)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := cleanStale(o.Log); err != nil {
		return nil, err
	}
	pid := os.Getpid()
	p := strconv.Itoa(pid)
	subnet := fmt.Sprintf("10.%d.%d.", 100+(pid>>8)%100, pid&255)
	t = &Topology{Bridge: "iob" + p + "br", ServerHost: subnet + "1"}
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()
	if err := ip("link", "add", t.Bridge, "type", "bridge"); err != nil {
		return t, err
	}
	t.closers = append(t.closers, func() error { return ip("link", "del", t.Bridge) })
	if err := ipAll([][]string{{"addr", "add", subnet + "254/24", "dev", t.Bridge}, {"link", "set", t.Bridge, "up"}}); err != nil {
		return t, err
	}
	node := func(ns, hostEnd, addr string) error {
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		t.Namespaces = append(t.Namespaces, ns)
		t.closers = append(t.closers, func() error { return ip("netns", "del", ns) })
		if err := ipAll([][]string{
			{"-n", ns, "link", "set", "lo", "up"},
			{"link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns},
		}); err != nil {
			return err
		}
		// Deleting one end of a veth pair removes both at once; a namespace's own devices
		// go only later, asynchronously, after the namespace is deleted.
		t.closers = append(t.closers, func() error { return ip("link", "del", hostEnd) })
		return ipAll([][]string{
			{"link", "set", hostEnd, "master", t.Bridge},
			{"link", "set", hostEnd, "up"},
			{"-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
		})
	}
	serverNS := "iob-" + p + "-s"
	if err := node(serverNS, "iob"+p+"s", t.ServerHost); err != nil {
		return t, err
	}
	var loadNS []string
	for i := range o.Loaders {
		ns := fmt.Sprintf("iob-%s-l%d", p, i)
		addr := fmt.Sprintf("%s%d", subnet, 10+i)
		if err := node(ns, fmt.Sprintf("iob%sl%d", p, i), addr); err != nil {
			return t, err
		}
		loadNS = append(loadNS, ns)
		t.LoadHosts = append(t.LoadHosts, addr)
	}
	if o.Netem != nil {
		if err := t.emulate(o, p, serverNS, loadNS); err != nil {
			return t, err
		}
	}
	srv, err := t.agent(ctx, o, serverNS, t.ServerHost, o.ServerCPUs)
	if err != nil {
		return t, err
	}
	t.ServerAgent = srv
	for i, ns := range loadNS {
		a, err := t.agent(ctx, o, ns, fmt.Sprintf("%s%d", subnet, 10+i), o.LoadCPUs)
		if err != nil {
			return t, err
		}
		t.LoadAgents = append(t.LoadAgents, a)
	}
	return t, nil
}

func ipAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := ip(c...); err != nil {
			return err
		}
	}
	return nil
}

// emulate applies o.Netem to every load link: kernel netem on both veth ends when it works
// here, else the user-space TUN link.
func (t *Topology) emulate(o Options, p, serverNS string, loadNS []string) error {
	args := o.Netem.TCArgs()
	kernel := exec.Command("ip", append([]string{"netns", "exec", loadNS[0], "tc", "qdisc", "add", "dev", "eth0", "root", "netem"}, args...)...).Run() == nil
	if kernel {
		t.NetemImpl = results.NetemKernel
		for i, ns := range loadNS {
			for _, dev := range [][]string{{"netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0"}, {"exec", "tc", "qdisc", "replace", "dev", fmt.Sprintf("iob%sl%d", p, i)}} {
				var cmd []string
				if dev[0] == "exec" {
					cmd = dev[1:] // tc in this namespace: the bridge side of the load's veth
				} else {
					cmd = append([]string{"ip"}, dev...)
				}
				cmd = append(cmd, append([]string{"root", "netem"}, args...)...)
				if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
					return fmt.Errorf("%s: %v: %s", strings.Join(cmd, " "), err, out)
				}
			}
		}
		return nil
	}
	t.NetemImpl = results.NetemTUN
	var links []*netem.Link
	for i, ns := range loadNS {
		la, sa := fmt.Sprintf("192.168.%d.2", 100+i), fmt.Sprintf("192.168.%d.1", 100+i)
		ta, tb := fmt.Sprintf("iob%sta%d", p, i), fmt.Sprintf("iob%stb%d", p, i)
		fa, err := netem.OpenTUN(ta)
		if err != nil {
			return err
		}
		fb, err := netem.OpenTUN(tb)
		if err != nil {
			fa.Close()
			return err
		}
		l := netem.NewLink(fa, fb, *o.Netem, uint64(i+1))
		links = append(links, l)
		t.closers = append(t.closers, l.Close)
		if err := ipAll([][]string{
			{"link", "set", ta, "netns", ns},
			{"link", "set", tb, "netns", serverNS},
			{"-n", ns, "addr", "add", la, "peer", sa, "dev", ta},
			{"-n", ns, "link", "set", ta, "up"},
			{"-n", serverNS, "addr", "add", sa, "peer", la, "dev", tb},
			{"-n", serverNS, "link", "set", tb, "up"},
			// The load reaches the server's address through the emulated link, from its TUN
			// address (the server answers it through the same link); control traffic to the
			// agents stays on the bridge, undelayed.
			{"-n", ns, "route", "add", t.ServerHost + "/32", "dev", ta, "src", la},
		}); err != nil {
			return err
		}
		t.LoadHosts[i] = la
	}
	t.LinkStats = func() [][2]netem.Stats {
		out := make([][2]netem.Stats, len(links))
		for i, l := range links {
			out[i][0], out[i][1] = l.Stats()
		}
		return out
	}
	return nil
}

// agent starts `iobench agent` in ns listening on addr:0 and returns its address.
func (t *Topology) agent(ctx context.Context, o Options, ns, addr string, cpus []int) (string, error) {
	args := []string{"netns", "exec", ns, o.Exe, "agent", "--listen", addr + ":0"}
	if len(cpus) > 0 {
		args = append(args, "--cpus", cpuList(cpus))
	}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), "IOBENCH_TOKEN="+o.Token)
	// The agent dies with this process even when it is killed (ip netns exec execs it, so
	// the signal is the agent's own).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = prefixWriter(o.Log, ns+": ")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting the agent in %s: %w", ns, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.closers = append(t.closers, func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("agent in %s did not stop on SIGTERM within 10 s (killed)", ns)
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l, ok := <-line:
		a, found := strings.CutPrefix(l, "listening on ")
		if !ok || !found {
			return "", fmt.Errorf("agent in %s: no listening line (got %q)", ns, l)
		}
		return a, nil
	case <-time.After(20 * time.Second):
		return "", fmt.Errorf("agent in %s: not listening after 20 s", ns)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Close stops the agents and removes every namespace, link and TUN device, in the reverse
// order of their making; it returns what failed.
func (t *Topology) Close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	t.closers = nil
	return errors.Join(errs...)
}

type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

// prefixWriter writes each line to w with prefix.
func prefixWriter(w io.Writer, prefix string) io.Writer { return &prefixed{w: w, prefix: prefix} }

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
