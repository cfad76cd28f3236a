package netstd_test

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/netstd"
)

func TestConformance(t *testing.T) { modeltest.Run(t, netstd.Name) }
