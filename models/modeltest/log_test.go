package modeltest_test

import (
	"testing"

	"github.com/iobench/iobench/models/modeltest"
	_ "github.com/iobench/iobench/netstd"
)

// The default writer goroutine (an engine without models.FileWriter).
func TestLogDefaultWriter(t *testing.T) { modeltest.RunLog(t, "netstd") }
