package results

// Faults is what the faults scenario measured in one repetition (Rep.Faults), and on a Result
// the repetition with the median last recovery. One load runs on steady open-loop connections
// of a CLIENT_AUTO_RECONNECT service through four quarters of its window: before, resets
// (extra client connections reset mid-frame, SO_LINGER 0), after, and at the start of the last
// quarter the server is killed (SIGKILL) and restarted on the same port.
type Faults struct {
	Conns int `json:"conns"` // steady connections of the load
	// KillAtNs is the kill's instant from the start of the window, ns.
	KillAtNs int64 `json:"kill_at_ns"`
	// RestartNs is how long the kill and the restart took (until the new server listened), ns.
	RestartNs int64 `json:"restart_ns"`
	// RecoveryNs: from the kill until the first and the last connection's session alive at the
	// end came up (the sessions on the new server).
	RecoveryNs *Recovery `json:"recovery_ns"`
	// Back is how many of Conns came back after the kill; SessionsEnded how many sessions
	// ended before the load's own close (Conns at one kill, more when the dying server still
	// accepted a redial).
	Back          int    `json:"back"`
	SessionsEnded uint64 `json:"sessions_ended"`
	// InFlight counts the messages sent before the kill on a session the kill ended and never
	// answered: they died with the server, counted apart, neither lost nor duplicated.
	// AfterKill are those sent on such a session after the kill, before its end was seen.
	InFlight  uint64 `json:"in_flight"`
	AfterKill uint64 `json:"after_kill"`
	// Lost is every other message never answered: any nonzero value fails the repetition.
	Lost uint64 `json:"lost"`
	// Unsent counts the pacer's messages due while their connection had no session (between
	// the kill and its reconnect): never sent, so neither in flight nor lost.
	Unsent uint64 `json:"unsent"`
	// Resets is the reset phase; nil when it did not run.
	Resets *Resets `json:"resets,omitempty"`
}

// Recovery is a kill's time to recover, ns: until the first and the last connection were back.
type Recovery struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// Resets are the client-side resets of the faults scenario: Conns extra connections, each
// repeatedly connecting, writing half a message and closing with SO_LINGER 0 (an RST in the
// middle of a frame), during the second quarter of the window, while the steady connections
// keep their open-loop rate. P99 is the steady connections' p99 latency (ns) in the quarters
// before, during and after, with the samples behind each (null below MinTailSamples beyond
// the percentile: too few samples).
type Resets struct {
	Conns    int     `json:"conns"`
	Injected uint64  `json:"injected"` // resets sent
	Failed   uint64  `json:"failed"`   // connect attempts that failed during the phase
	Before   *Window `json:"before"`
	During   *Window `json:"during"`
	After    *Window `json:"after"`
}

// Window is one phase's latency of the steady connections.
type Window struct {
	P99Ns   *float64 `json:"p99_ns"`
	Samples uint64   `json:"samples"`
}

// SummarizeFaults sets r.Faults to the counted repetition with the median last recovery.
func SummarizeFaults(r *Result) {
	var reps []*Rep
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		if rep.Faults != nil && rep.Error == "" && !rep.Interrupted && rep.Faults.RecoveryNs != nil {
			reps = append(reps, rep)
		}
	}
	if len(reps) == 0 {
		return
	}
	for i := 1; i < len(reps); i++ { // insertion sort: a handful of repetitions
		for j := i; j > 0 && reps[j].Faults.RecoveryNs.Last < reps[j-1].Faults.RecoveryNs.Last; j-- {
			reps[j], reps[j-1] = reps[j-1], reps[j]
		}
	}
	f := *reps[(len(reps)-1)/2].Faults
	r.Faults = &f
}
