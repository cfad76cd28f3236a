package harness

import (
	"context"
	"errors"
	"io"
)

// ServeCmd is `iobench serve` (placeholder).
func ServeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("serve: not built yet")
}

// BackendsCmd is `iobench backends` (placeholder).
func BackendsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("backends: not built yet")
}
