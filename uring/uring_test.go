package uring_test

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/uring"
)

// TestConformance runs the shared contract suite; it skips with the reason where the backend
// is unsupported (other systems, old kernels, io_uring disabled).
func TestConformance(t *testing.T) { modeltest.Run(t, uring.Name) }
