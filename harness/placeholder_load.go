package harness

import (
	"context"
	"errors"
	"io"
)

// LoadCmd is `iobench load` (placeholder until the harness lands).
func LoadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("load: not built yet")
}

// RunCmd is `iobench run` (placeholder until the harness lands).
func RunCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("run: not built yet")
}
