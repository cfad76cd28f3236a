package iocp

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
)

// TestConformance runs the shared contract suite (skipped where iocp is unsupported).
func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

// TestLogConformance runs the log suite on iocp's engine (its overlapped WriteFile writer is
// not built yet: models.OpenLog gives the default writer goroutine).
func TestLogConformance(t *testing.T) { modeltest.RunLog(t, Name) }
