package netpoll

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
)

func TestConformance(t *testing.T) { modeltest.Run(t, Name) }
