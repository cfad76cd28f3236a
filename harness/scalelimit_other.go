//go:build !linux

package harness

// The scale suite's limits and kernel probes are Linux's (/proc); elsewhere they are n/a.

func raiseNofile() (soft, hard, before uint64, err error) { return 0, 0, 0, errNA }

func openFDs() int { return 0 }

func fileMaxFree() (uint64, bool) { return 0, false }

type sockstat struct {
	Inuse, MemPages uint64
	OK              bool
}

func readSockstat() sockstat { return sockstat{} }

func ephemeralPorts() (int, error) { return 0, errNA }
