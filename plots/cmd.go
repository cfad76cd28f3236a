// Package plots renders results folders into charts and an HTML report (in progress).
package plots

import (
	"context"
	"errors"
	"io"
)

// ReportCmd is `iobench report` (placeholder until the report lands).
func ReportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("report: not built yet")
}
