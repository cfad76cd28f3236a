package tinybackend_test

import (
	"testing"

	"github.com/iobench/iobench/internal/tinybackend"
	"github.com/iobench/iobench/models/modeltest"
)

// TestConformance is the one conformance call every backend makes.
func TestConformance(t *testing.T) { modeltest.Run(t, tinybackend.Name) }
