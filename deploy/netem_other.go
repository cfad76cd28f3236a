//go:build !linux

package deploy

import "fmt"

// netemQdisc: tc netem is a Linux queueing discipline; a stack's links are emulated from a
// Linux host's side only.
func netemQdisc() error {
	return fmt.Errorf("--netem needs a Linux host with the netem qdisc (tc-netem(8)); this is not Linux")
}
