package results

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// BenchName is the Go benchmark name of a result, one "/key=value" per workload dimension, so
// benchstat can pivot on any of them (`benchstat -col /backend results.txt`).
func BenchName(r *Result) string {
	var b strings.Builder
	b.WriteString("BenchmarkIO")
	kv := func(k, v string) {
		b.WriteString("/" + k + "=" + sanitize(v))
	}
	kv("backend", r.Name()) // the label: an A/A twin is its own series
	kv("scenario", r.Scenario)
	if r.Proto != "" {
		kv("proto", r.Proto)
	}
	kv("conns", strconv.Itoa(r.Conns))
	kv("size", strconv.Itoa(r.Size))
	kv("depth", strconv.Itoa(r.Depth))
	kv("mode", r.Mode)
	if r.Mode == ModeOpen {
		kv("rate", strconv.FormatFloat(r.Rate, 'f', -1, 64))
	}
	return b.String()
}

// sanitize keeps a name component free of the characters the benchmark format splits on.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '/' || r == '=' || r == '\n' {
			return '_'
		}
		return r
	}, s)
}

// WriteBench writes run in the Go benchmark format
// (https://go.googlesource.com/proposal/+/master/design/14313-benchmark-data.md): a config
// header (goos, goarch, cpu, host, kernel, go, commit) and one line per repetition, so
// benchstat's Mann–Whitney test sees every repetition. Each line is
//
//	BenchmarkIO/backend=netstd/scenario=pingpong/... <N msgs> <ns/op> ns/op <v> msgs/s <v> p99-ns ...
//
// where ns/op is nanoseconds per message (1e9 / msgs_per_sec) and every measured metric of
// Metrics follows with its unit; unmeasured metrics are omitted (benchstat shows them as
// missing, not 0). Skipped and failed results become "#" comment lines, which benchstat ignores.
func WriteBench(w io.Writer, run *Run) error {
	bw := bufio.NewWriter(w)
	e := run.Env
	cfg := func(k, v string) {
		if v != "" {
			fmt.Fprintf(bw, "%s: %s\n", k, strings.ReplaceAll(v, "\n", " "))
		}
	}
	cfg("goos", e.OS)
	cfg("goarch", e.Arch)
	cfg("cpu", e.CPUModel)
	cfg("host", e.Label())
	cfg("kernel", e.Kernel)
	cfg("go", e.GoVersion)
	cfg("commit", e.IobenchCommit)
	cfg("suite", run.Suite)
	cfg("pkg", "github.com/iobench/iobench")
	for i := range run.Results {
		r := &run.Results[i]
		name := BenchName(r)
		if r.Skipped != "" {
			fmt.Fprintf(bw, "# skipped %s: %s\n", name, oneLine(r.Skipped))
			continue
		}
		if r.Error != "" {
			fmt.Fprintf(bw, "# failed %s: %s\n", name, oneLine(r.Error))
		}
		for j := range r.Repetitions {
			rep := &r.Repetitions[j]
			if rep.Interrupted {
				// Stopped by a signal: its figures are partial and Summarize excludes it, so
				// benchstat must not see it either.
				fmt.Fprintf(bw, "# interrupted %s rep %d\n", name, rep.Index)
				continue
			}
			if rep.Error != "" {
				fmt.Fprintf(bw, "# failed %s rep %d: %s\n", name, rep.Index, oneLine(rep.Error))
				continue
			}
			if rep.MsgsPerSec == nil || *rep.MsgsPerSec <= 0 {
				fmt.Fprintf(bw, "# no throughput %s rep %d\n", name, rep.Index)
				continue
			}
			mps := *rep.MsgsPerSec
			n := int64(math.Round(mps * float64(rep.DurationNs) / 1e9))
			if n < 1 {
				n = 1
			}
			fmt.Fprintf(bw, "%s %d %s ns/op", name, n, num(1e9/mps))
			for _, m := range Metrics {
				if p := m.Get(&rep.Figures); p != nil {
					fmt.Fprintf(bw, " %s %s", num(*p), m.Name)
				}
			}
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
