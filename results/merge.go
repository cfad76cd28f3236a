package results

import (
	"fmt"
	"sort"
)

// Entry is one result of a merged set, with the run it came from.
type Entry struct {
	Host   string     // Env.Label() of its run: results of different hosts are never pooled
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
	Runs  []*LoadedRun
}

// Merged is several runs (possibly from several machines) organised for a report: per host,
// per workload, per backend. Nothing is averaged across hosts or across runs.
type Merged struct {
	Hosts     []Host // in input order
	Workloads []Key  // scenario order, then conns, size, depth, mode, rate
	Entries   []Entry
	Skipped   []Entry  // results with Skipped set
	Notes     []string // e.g. a (host, backend, workload) measured twice: the later run is used
}

// Merge organises runs. When the same host measured the same backend on the same workload in
// two runs, the later run (by Started) wins and a note says so: two runs of one machine are
// not averaged either.
func Merge(runs []LoadedRun) *Merged {
	m := &Merged{}
	hostIdx := map[string]int{}
	type cell struct {
		host, backend string
		key           Key
	}
	seen := map[cell]int{} // index into m.Entries
	keys := map[Key]bool{}
	for i := range runs {
		lr := &runs[i]
		label := lr.Run.Env.Label()
		hi, ok := hostIdx[label]
		if !ok {
			hi = len(m.Hosts)
			hostIdx[label] = hi
			m.Hosts = append(m.Hosts, Host{Label: label, Env: lr.Run.Env})
		}
		m.Hosts[hi].Runs = append(m.Hosts[hi].Runs, lr)
		for j := range lr.Run.Results {
			r := &lr.Run.Results[j]
			e := Entry{Host: label, Run: lr, Result: r}
			if r.Skipped != "" {
				m.Skipped = append(m.Skipped, e)
				continue
			}
			c := cell{label, r.Backend, r.Key()}
			if k, dup := seen[c]; dup {
				old := m.Entries[k]
				if lr.Run.Started.After(old.Run.Run.Started) {
					m.Entries[k] = e
				}
				m.Notes = append(m.Notes, fmt.Sprintf("%s: %s %s measured in %s and %s; the later run is shown",
					label, r.Backend, r.Key(), old.Run.Path, lr.Path))
				continue
			}
			seen[c] = len(m.Entries)
			m.Entries = append(m.Entries, e)
			keys[r.Key()] = true
		}
	}
	for k := range keys {
		m.Workloads = append(m.Workloads, k)
	}
	sort.Slice(m.Workloads, func(i, j int) bool { return lessKey(m.Workloads[i], m.Workloads[j]) })
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

// Of returns the entries of workload k, ordered by host (input order) then backend name.
func (m *Merged) Of(k Key) []Entry {
	var out []Entry
	for _, e := range m.Entries {
		if e.Result.Key() == k {
			out = append(out, e)
		}
	}
	m.sortEntries(out)
	return out
}

// SkippedFor returns the skipped results relevant to workload k: same scenario, from a host
// that has results for k or no result of that scenario at all (so nothing goes unlisted).
func (m *Merged) SkippedFor(k Key) []Entry {
	var out []Entry
	for _, e := range m.Skipped {
		if e.Result.Scenario == k.Scenario {
			out = append(out, e)
		}
	}
	m.sortEntries(out)
	return out
}

func (m *Merged) sortEntries(es []Entry) {
	hostOrder := map[string]int{}
	for i, h := range m.Hosts {
		hostOrder[h.Label] = i
	}
	sort.SliceStable(es, func(i, j int) bool {
		if hi, hj := hostOrder[es[i].Host], hostOrder[es[j].Host]; hi != hj {
			return hi < hj
		}
		return es[i].Result.Backend < es[j].Result.Backend
	})
}
