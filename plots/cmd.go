// Package plots renders results folders into charts (gonum/plot, PNG and SVG), a
// self-contained HTML report and a Markdown summary, with a recommendation per workload.
//
// The main figures of a workload measured at equal offered load (an equal-load ladder: every
// label open loop at the same fractions of a common capacity) are curves: p99 and p50 latency,
// server CPU, syscalls and context switches per message, and achieved/offered, against offered
// rate, one line per label. A saturated point (the label could not sustain that rate) is a
// hollow marker cut from its line, a dashed vertical line marks where the label saturates, and
// latency carries its 95 % confidence interval as whiskers. The closed-loop maximum throughput
// is a secondary chart, "capacity (closed loop)", client-bound bars hatched. Workloads without
// a ladder (older runs, idle, churn, sweep) render as before.
//
// Verdicts. At each rate and for each metric, the best ranked label is tested against the
// runner-up (two-sided Mann–Whitney U over repetitions, α = 0.05), and the p-values of all the
// verdicts of one run are corrected together by Holm's method (results.Family: about fifty
// tests in the quick suite; uncorrected, a run of identical backends would call one or two of
// them significant by chance, and two runs of one machine would disagree on them). The A/A
// pair's tests are corrected the same way as a family of their own. A saturated label, a label
// with too few samples beyond a percentile, and the A/A twin are never ranked. The A/A pair is
// one backend measured twice under two labels ("netstd" and "netstd#aa"), interleaved with the
// rest. For each metric of a comparison, the A/A spread is the largest |relative difference of
// medians|, (twin − base)/|base|, of the A/A pair over the points of that comparison (every
// rate of the ladder; the single point of a closed-loop workload): the machine's noise floor
// for that metric, taken at its worst point because one point's A/A difference is one noisy
// draw. A difference between labels is called significant only if its p < α AND its relative
// difference (best − runner-up)/|runner-up| exceeds the A/A spread. When the A/A pair itself
// differs significantly (corrected p < α) at any point of a comparison, the report says the machine was
// too noisy for verdicts on that metric there, and calls nothing on it significant. A run
// without an A/A pair falls back to p < α alone and says it is not calibrated. Curves cross
// where the difference of two labels' medians changes sign between consecutive rates; a
// crossing is reported when the two differ significantly on both sides.
//
// Tails. A percentile is shown with its distribution-free 95 % confidence interval and its
// sample count n ("1.23ms [1.20–1.27]"), or as "too few samples" when fewer than
// results.MinTailSamples lie beyond it (n·(1−p) < 100) — never as a bare number, in HTML,
// Markdown and charts (such points are not drawn). Older runs that recorded no n show "(no CI)".
//
// Across runs. Runs of one machine are never pooled: each is its own section, and their
// verdicts are compared one by one (ladder points matched by load fraction): agree (same
// winner, significant in every run), confirmed (significant in some runs; each other run tests
// the named pair once, corrected over the confirmations asked, and confirms it: same winner,
// same sign, past its own A/A rule — see results.Confirm), one significant and one not (not
// confirmed), opposite, or neither significant. Runs whose speed indices differ by more than 20 % are never put into one
// comparison; they are listed with the reason and shown side by side. Machines differ: their
// runs are shown side by side and never compared or averaged.
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
report.html (self-contained), report.md, and every plot as PNG and SVG. Several folders go
into one report, labelled by host and OS; results of different machines are never averaged.
Several runs of one machine are shown side by side and compared verdict by verdict (do they
agree?), unless their speed indices differ by more than 20 %.

Exit status: 0 rendered; 2 bad usage or bad input. A bad input file (unknown schema version,
NaN, missing field, a folder without run files, a run without measured results) is reported
naming the file, the good inputs are still rendered, and the exit status is 2.
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
