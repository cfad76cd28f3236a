package iocp

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
)

// TestConformance runs the shared contract suite (skipped where iocp is unsupported).
func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

// TestLogConformance runs the log suite on iocp's own writer (overlapped WriteFile on the
// completion port).
func TestLogConformance(t *testing.T) { modeltest.RunLog(t, Name) }
