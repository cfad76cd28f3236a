//go:build !linux

package netns

import (
	"context"
	"errors"
)

var errLinux = errors.New("--topology netns: network namespaces are Linux only")

// Check refuses: network namespaces are Linux only.
func Check() error { return errLinux }

// Setup refuses: network namespaces are Linux only.
func Setup(ctx context.Context, o Options) (*Topology, error) { return nil, errLinux }

// Close has nothing to remove here.
func (t *Topology) Close() error { return nil }

// Leftovers: none here.
func Leftovers() ([]string, error) { return nil, nil }
