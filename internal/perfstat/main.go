// Command perfstat summarizes the samples scripts/perf-compare.sh collects: one line per
// sample, "backend workload rev round cpu_ns_per_msg msgs_per_sec", rev being "old" or
// "new". For each backend and workload it prints the median server CPU per message of each
// revision, the change, and the two-sided Mann–Whitney U test (results.MannWhitneyU, α 0.05):
// "worse", "better" or "no significant difference".
//
// Usage: go run ./internal/perfstat SAMPLES.tsv
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/iobench/iobench/results"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: perfstat SAMPLES.tsv")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfstat:", err)
		os.Exit(1)
	}
	defer f.Close()
	if err := run(f, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "perfstat:", err)
		os.Exit(1)
	}
}

type key struct{ backend, workload string }

type samples struct{ oldCPU, newCPU, oldRate, newRate []float64 }

func run(r io.Reader, w io.Writer) error {
	m := map[key]*samples{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 6 {
			return fmt.Errorf("line %d: %d fields, want 6: %q", n, len(fs), line)
		}
		cpu, err1 := strconv.ParseFloat(fs[4], 64)
		rate, err2 := strconv.ParseFloat(fs[5], 64)
		if err1 != nil || err2 != nil || cpu <= 0 {
			return fmt.Errorf("line %d: bad numbers %q %q", n, fs[4], fs[5])
		}
		k := key{fs[0], fs[1]}
		if m[k] == nil {
			m[k] = &samples{}
		}
		switch fs[2] {
		case "old":
			m[k].oldCPU, m[k].oldRate = append(m[k].oldCPU, cpu), append(m[k].oldRate, rate)
		case "new":
			m[k].newCPU, m[k].newRate = append(m[k].newCPU, cpu), append(m[k].newRate, rate)
		default:
			return fmt.Errorf("line %d: rev %q, want old or new", n, fs[2])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	keys := make([]key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].backend != keys[j].backend {
			return keys[i].backend < keys[j].backend
		}
		return keys[i].workload < keys[j].workload
	})
	fmt.Fprintf(w, "%-8s %-10s %4s %12s %12s %8s %8s  %s\n", "backend", "workload", "n", "old ns/msg", "new ns/msg", "change", "p", "verdict (server CPU per message)")
	for _, k := range keys {
		s := m[k]
		mo, mn := results.Median(s.oldCPU), results.Median(s.newCPU)
		t := results.MannWhitneyU(s.oldCPU, s.newCPU)
		fmt.Fprintf(w, "%-8s %-10s %2d:%-2d %11.0f %12.0f %+7.1f%% %8.3f  %s (offered rate held: old %.0f, new %.0f msgs/s)\n",
			k.backend, k.workload, len(s.oldCPU), len(s.newCPU), mo, mn, 100*(mn-mo)/mo, t.P,
			verdict(t, mo, mn), results.Median(s.oldRate), results.Median(s.newRate))
	}
	return nil
}

// verdict says whether new is worse, better or not significantly different from old.
func verdict(t results.UTest, oldMedian, newMedian float64) string {
	switch {
	case !t.Significant(results.Alpha):
		return "no significant difference"
	case newMedian > oldMedian:
		return "WORSE"
	default:
		return "better"
	}
}
