package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Syscall counting with perf(1): `perf stat -e raw_syscalls:sys_enter -p PID` attached to the
// server, started disabled (-D -1) and switched on and off at the window edges through its
// control pipes (--control fd:CTL,ACK, perf-stat(1)), so the count covers the same interval
// as the message count. Where perf is missing or not permitted (perf_event_paranoid, no
// tracefs) the figure is n/a.

var (
	perfOnce sync.Once
	perfErr  error
)

// perfUsable checks once that `perf stat -e raw_syscalls:sys_enter true` works.
func perfUsable() error {
	perfOnce.Do(func() {
		path, err := exec.LookPath("perf")
		if err != nil {
			perfErr = fmt.Errorf("perf not installed: %w", err)
			return
		}
		out, err := exec.Command(path, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true").CombinedOutput()
		if err != nil {
			perfErr = fmt.Errorf("perf stat -e raw_syscalls:sys_enter does not work here: %v: %s", err, firstLine(out))
			return
		}
		if _, err := parsePerfCount(out); err != nil {
			perfErr = fmt.Errorf("perf stat output not understood: %v", err)
		}
	})
	return perfErr
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// parsePerfCount finds the raw_syscalls:sys_enter line of perf stat -x, output.
func parsePerfCount(out []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) >= 3 && f[2] == "raw_syscalls:sys_enter" {
			if strings.HasPrefix(f[0], "<not counted>") {
				return 0, nil // the task never ran while enabled
			}
			return strconv.ParseUint(f[0], 10, 64)
		}
	}
	return 0, errors.New("no raw_syscalls:sys_enter line")
}

// syscallCounter is a perf stat attached to one process.
type syscallCounter struct {
	cmd      *exec.Cmd
	ctl, ack *os.File
	out      bytes.Buffer
	ackR     *bufio.Reader
}

// startSyscallCounter attaches perf to pid, disabled.
func startSyscallCounter(pid int) (*syscallCounter, error) {
	if err := perfUsable(); err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	c := &syscallCounter{ctl: ctlW, ack: ackR, ackR: bufio.NewReader(ackR)}
	// ExtraFiles become fd 3 (control) and 4 (ack) in perf.
	c.cmd = exec.Command("perf", "stat", "-x,", "-D", "-1", "--control", "fd:3,4",
		"-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(pid))
	c.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	c.cmd.Stderr = &c.out
	if err := c.cmd.Start(); err != nil {
		ctlR.Close()
		ackW.Close()
		c.close()
		return nil, err
	}
	ctlR.Close()
	ackW.Close()
	return c, nil
}

// command sends enable/disable and waits for perf's ack.
func (c *syscallCounter) command(cmd string) error {
	if _, err := c.ctl.WriteString(cmd + "\n"); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		line, err := c.ackR.ReadString('\n')
		if err == nil && strings.Trim(line, "\x00 \r\n") != "ack" {
			err = fmt.Errorf("perf answered %q", line)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		return errors.New("perf did not acknowledge " + cmd)
	}
}

func (c *syscallCounter) enable() error  { return c.command("enable") }
func (c *syscallCounter) disable() error { return c.command("disable") }

// finish stops perf and returns the count over the enabled interval.
func (c *syscallCounter) finish() (uint64, error) {
	defer c.close()
	c.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
		return 0, errors.New("perf did not stop")
	}
	return parsePerfCount(c.out.Bytes())
}

func (c *syscallCounter) close() {
	c.ctl.Close()
	c.ack.Close()
}
