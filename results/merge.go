package results

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNoResults is reported (as a *FileError naming the run file) for a run holding no measured
// result, only skipped ones or none: there is nothing to report from it.
var ErrNoResults = errors.New("no results to report: the run holds no measured result")

// Entry is one result of a merged set, with the run it came from.
type Entry struct {
	Host   string     // Env.Label() of its run: results of different hosts are never pooled
	Source int        // index of its run in Merged.Sources
	Run    *LoadedRun // the run (for Env and for resolving HDR log paths against Run.Dir)
	Result *Result
}

// HDRPath resolves a path relative to the run file's folder ("" stays "").
func (e Entry) HDRPath(rel string) string {
	if rel == "" {
		return ""
	}
	return joinRel(e.Run.Dir, rel)
}

// Host is one machine of a merged set.
type Host struct {
	Label string
	Env   Env
	Runs  []*LoadedRun // by start time
}

// Source is one run of a merged set. Runs are never pooled: two runs of one machine are two
// sources, shown side by side and compared verdict by verdict.
type Source struct {
	Host  string // Env.Label()
	Run   *LoadedRun
	Index int    // 1-based order of the run among its host's runs, by start time
	Label string // Host when the host has one run, else "<hostname> run <Index>"
}

// Merged is several runs (possibly from several machines) organised for a report: per source
// (run), per workload, per label. Nothing is averaged across hosts or across runs.
type Merged struct {
	Hosts     []Host   // in input order
	Sources   []Source // grouped by host in host order, a host's runs by start time
	Workloads []Key    // workloads not on an equal-load ladder: scenario order, then conns, size, depth, mode, rate
	Families  []Key    // workloads of equal-load ladders (Result.Family), same order
	Entries   []Entry
	Skipped   []Entry  // results with Skipped set
	Notes     []string // e.g. a run file given twice, or a cell measured twice in one run
}

// Family is the workload of an equal-load ladder point or capacity result: its Key without
// mode and rate (every rate of the ladder and the closed-loop capacity share it).
func (r *Result) Family() Key {
	k := r.Key()
	k.Mode, k.Rate = "", 0
	return k
}

// OnLadder reports whether r belongs to an equal-load ladder: a point of it (LoadFraction)
// or the workload's closed-loop capacity result.
func (r *Result) OnLadder() bool { return r.LoadFraction > 0 || r.Capacity }

// FamilyTitle renders a family key: "broadcast framed conns=64 size=64 depth=1".
func FamilyTitle(k Key) string { return strings.TrimSpace(k.String()) }

// CapacityOf is the run's common capacity of ladder family fam, or nil. Capacity.Workload is
// matched against the family's key with mode open, closed or none.
func (r *Run) CapacityOf(fam Key) *Capacity {
	var names []string
	for _, mode := range []string{ModeOpen, ModeClosed, ""} {
		k := fam
		k.Mode = mode
		names = append(names, strings.TrimSpace(k.String()))
	}
	for i := range r.Capacities {
		for _, n := range names {
			if strings.TrimSpace(r.Capacities[i].Workload) == n {
				return &r.Capacities[i]
			}
		}
	}
	return nil
}

// Merge organises runs. A run file given twice is read once (with a note); a cell measured
// twice inside one run keeps the later result (with a note). Runs of one machine stay
// separate sources.
func Merge(runs []LoadedRun) *Merged {
	m := &Merged{}
	hostIdx := map[string]int{}
	seenPath := map[string]bool{}
	var order []*LoadedRun
	for i := range runs {
		lr := &runs[i]
		if lr.Path != "" && seenPath[lr.Path] {
			m.Notes = append(m.Notes, fmt.Sprintf("%s given twice: read once", lr.Path))
			continue
		}
		seenPath[lr.Path] = true
		label := lr.Run.Env.Label()
		if _, ok := hostIdx[label]; !ok {
			hostIdx[label] = len(m.Hosts)
			m.Hosts = append(m.Hosts, Host{Label: label, Env: lr.Run.Env})
		}
		order = append(order, lr)
	}
	for _, lr := range order {
		h := &m.Hosts[hostIdx[lr.Run.Env.Label()]]
		h.Runs = append(h.Runs, lr)
	}
	for hi := range m.Hosts {
		h := &m.Hosts[hi]
		sort.SliceStable(h.Runs, func(i, j int) bool { return h.Runs[i].Run.Started.Before(h.Runs[j].Run.Started) })
		for k, lr := range h.Runs {
			s := Source{Host: h.Label, Run: lr, Index: k + 1, Label: h.Label}
			if len(h.Runs) > 1 {
				name := lr.Run.Env.Hostname
				if name == "" {
					name = h.Label
				}
				s.Label = fmt.Sprintf("%s run %d", name, k+1)
			}
			m.Sources = append(m.Sources, s)
		}
	}
	type cell struct {
		source int
		label  string
		key    Key
		frac   float64
		cap    bool
	}
	seen := map[cell]int{} // index into m.Entries
	keys, fams := map[Key]bool{}, map[Key]bool{}
	for si, src := range m.Sources {
		lr := src.Run
		for j := range lr.Run.Results {
			r := &lr.Run.Results[j]
			e := Entry{Host: src.Host, Source: si, Run: lr, Result: r}
			if r.Skipped != "" {
				m.Skipped = append(m.Skipped, e)
				continue
			}
			c := cell{si, r.Name(), r.Key(), r.LoadFraction, r.Capacity}
			if k, dup := seen[c]; dup {
				m.Entries[k] = e
				m.Notes = append(m.Notes, fmt.Sprintf("%s: %s %s measured twice in %s; the later result is shown",
					src.Host, r.Name(), r.Key(), lr.Path))
				continue
			}
			seen[c] = len(m.Entries)
			m.Entries = append(m.Entries, e)
			if r.OnLadder() {
				fams[r.Family()] = true
			} else {
				keys[r.Key()] = true
			}
		}
	}
	for k := range keys {
		m.Workloads = append(m.Workloads, k)
	}
	for k := range fams {
		m.Families = append(m.Families, k)
	}
	sort.Slice(m.Workloads, func(i, j int) bool { return lessKey(m.Workloads[i], m.Workloads[j]) })
	sort.Slice(m.Families, func(i, j int) bool { return lessKey(m.Families[i], m.Families[j]) })
	return m
}

// ScenarioRank orders scenario names as in Scenarios (unknown last).
func ScenarioRank(s string) int {
	for i, x := range Scenarios {
		if x == s {
			return i
		}
	}
	return len(Scenarios)
}

func lessKey(a, b Key) bool {
	if ra, rb := ScenarioRank(a.Scenario), ScenarioRank(b.Scenario); ra != rb {
		return ra < rb
	}
	if a.Mode != b.Mode {
		return a.Mode < b.Mode // closed before open
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if a.Conns != b.Conns {
		return a.Conns < b.Conns
	}
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	if a.Depth != b.Depth {
		return a.Depth < b.Depth
	}
	return a.Rate < b.Rate
}

// Of returns the entries of workload k that are not on a ladder, ordered by source then label.
func (m *Merged) Of(k Key) []Entry {
	return m.filter(m.Entries, func(r *Result) bool { return !r.OnLadder() && r.Key() == k })
}

// FamilyOf returns the ladder points and capacity results of family fam, ordered by source,
// label, then load fraction (capacity results first).
func (m *Merged) FamilyOf(fam Key) []Entry {
	return m.filter(m.Entries, func(r *Result) bool { return r.OnLadder() && r.Family() == fam })
}

// SkippedFor returns the skipped results relevant to workload k: same scenario (so nothing
// goes unlisted).
func (m *Merged) SkippedFor(k Key) []Entry {
	return m.filter(m.Skipped, func(r *Result) bool { return r.Scenario == k.Scenario })
}

func (m *Merged) filter(es []Entry, keep func(*Result) bool) []Entry {
	var out []Entry
	for _, e := range es {
		if keep(e.Result) {
			out = append(out, e)
		}
	}
	m.sortEntries(out)
	return out
}

func (m *Merged) sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Result.Name() != b.Result.Name() {
			return a.Result.Name() < b.Result.Name()
		}
		return a.Result.LoadFraction < b.Result.LoadFraction
	})
}
