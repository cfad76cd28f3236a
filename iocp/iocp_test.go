package iocp

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
)

// TestConformance runs the shared contract suite (skipped where iocp is unsupported).
func TestConformance(t *testing.T) { modeltest.Run(t, Name) }
