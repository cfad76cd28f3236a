//go:build !linux

package harness

import "errors"

// Syscall counting needs perf(1) on Linux; elsewhere syscalls per message are n/a.

type syscallCounter struct{}

func perfUsable() error { return errors.New("syscall counting needs Linux perf") }

func startSyscallCounter(pid int) (*syscallCounter, error) { return nil, perfUsable() }
func (c *syscallCounter) enable() error                    { return perfUsable() }
func (c *syscallCounter) disable() error                   { return perfUsable() }
func (c *syscallCounter) finish() (uint64, error)          { return 0, perfUsable() }
