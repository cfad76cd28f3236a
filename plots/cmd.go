// Package plots renders results folders into charts (gonum/plot, PNG and SVG), a
// self-contained HTML report and a Markdown summary, with a recommendation per workload.
package plots

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/iobench/iobench/internal/cli"
)

const reportUsage = `usage: iobench report DIR... [--out DIR]

Renders one or more results folders (or run JSON files) into DIR (default: <first input>/report):
report.html (self-contained), report.md, and every plot as PNG and SVG. Several folders merge
into one report, labelled by host and OS; results of different machines are never averaged.

Exit status: 0 rendered; 2 bad usage or bad input. A bad input file (unknown schema version,
NaN, missing field, a folder without results) is reported naming the file, the good inputs are
still rendered, and the exit status is 2.
`

// ReportCmd is `iobench report`: args are folders and --out; see reportUsage.
func ReportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("report", stderr)
	out := fs.String("out", "", "output folder (default <first input>/report)")
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	// Flags may come after the folders: parse repeatedly, collecting positionals.
	var inputs []string
	rest := args
	for {
		if err := cli.Parse(fs, rest, true); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		inputs = append(inputs, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(inputs) == 0 {
		fs.Usage()
		return cli.Usagef("no results folder given")
	}
	if *out == "" {
		first := inputs[0]
		if strings.HasSuffix(strings.ToLower(first), ".json") {
			first = filepath.Dir(first)
		}
		*out = filepath.Join(first, "report")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	html, err := WriteReport(*out, inputs...)
	if html != "" {
		fmt.Fprintf(stdout, "report: %s\n", html)
	}
	return err
}
