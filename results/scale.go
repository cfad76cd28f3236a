package results

// Heartbeats is the delivery account of the idle connections' heartbeats in a measured
// window (scale suite; scenario idle): every connection sends one heartbeat per period and
// every reply is verified (sequence and CRC-32C). A heartbeat belongs to the window when it
// was due inside it, whenever it was sent or answered.
//
//   - Due: heartbeats whose intended send time fell in the window, counted from the schedule
//     (connections × periods), not from what the load generator managed to send;
//   - Sent: of those, the ones the load generator sent (at any time up to the drain);
//   - Answered: of those, the ones whose verified reply came back;
//   - Late: answered more than one period after they were due, or sent more than one period
//     after they were due (the load generator could not keep its schedule);
//   - LateSent: of Late, the ones the load generator itself sent late: a non-zero LateSent
//     makes the result client-bound (Figures.Bottleneck "client").
//
// Due = Answered with Late = 0 is a window in which every heartbeat was on time.
type Heartbeats struct {
	PeriodNs int64  `json:"period_ns"`
	Due      uint64 `json:"due"`
	Sent     uint64 `json:"sent"`
	Answered uint64 `json:"answered"`
	Late     uint64 `json:"late"`
	LateSent uint64 `json:"late_sent,omitempty"`
	// MaxSendLagNs is the largest delay between a heartbeat's due time and its send, ns: the
	// load generator's own lateness (the latency percentiles include it: they are measured
	// from the due time).
	MaxSendLagNs int64 `json:"max_send_lag_ns"`
}

// OnTime reports whether every heartbeat due was answered and none was late.
func (h *Heartbeats) OnTime() bool {
	return h != nil && h.Due > 0 && h.Answered == h.Due && h.Sent == h.Due && h.Late == 0
}

// Scale is what the scale suite measures per connection count besides the Figures: how fast
// the server took every connection, what they cost it in memory, and what the kernel held for
// their sockets (reported beside the server's RSS, never in it).
type Scale struct {
	// ConnectNs is the time from the first connect(2) until the server's app had every
	// session through OnConnect, ns; AcceptPerSec is conns / ConnectNs.
	ConnectNs    int64    `json:"connect_ns"`
	AcceptPerSec *float64 `json:"accept_per_sec"`
	// RSSEmptyBytes is the server's VmRSS before any connection of this load (the empty
	// server); RSSBytes its VmRSS at the end of the window; RSSBytesPerConn RSSBytes / conns
	// (total) and RSSAboveEmptyPerConn (RSSBytes − RSSEmptyBytes) / conns (what a connection
	// adds; Figures.Server.RSSBytesPerConn is the same figure).
	RSSEmptyBytes        *float64 `json:"rss_empty_bytes"`
	RSSBytes             *float64 `json:"rss_bytes"`
	RSSBytesPerConn      *float64 `json:"rss_bytes_per_conn"`
	RSSAboveEmptyPerConn *float64 `json:"rss_above_empty_bytes_per_conn"`
	// SockMemBytes is the growth of the kernel's TCP memory (/proc/net/sockstat "TCP: mem",
	// pages × page size) from before connecting to the end of the window, bytes, and
	// SockMemBytesPerConn that over conns. Both ends of every connection live on this machine
	// (loopback), so it counts the client's sockets too. SocketsInUse is the growth of
	// "TCP: inuse" (two per connection on loopback).
	SockMemBytes        *float64 `json:"sock_mem_bytes"`
	SockMemBytesPerConn *float64 `json:"sock_mem_bytes_per_conn"`
	SocketsInUse        *float64 `json:"sockets_in_use"`
	// SourceAddrs is the number of source addresses (127.0.0.0/8) the connections were spread
	// over, so that no address runs out of ephemeral ports.
	SourceAddrs int `json:"source_addrs"`
	// LoadProcs is the number of load processes the connections were spread over (1: the
	// harness itself).
	LoadProcs int `json:"load_procs"`
	// NofileSoft, NofileHard are the RLIMIT_NOFILE of the load generator after raising it as
	// far as allowed; Ceiling is the most connections one process can hold under it (each of
	// the server and the load process needs conns + a margin of fds).
	NofileSoft uint64 `json:"nofile_soft"`
	NofileHard uint64 `json:"nofile_hard"`
	Ceiling    int    `json:"ceiling"`
}

// summarizeScale fills the headline's Heartbeats (the sum over the counted repetitions, like
// Verify) and Scale (each figure the median of the counted repetitions; the counts and limits
// are the first repetition's).
func summarizeScale(h *Figures, ok []*Figures) {
	for _, f := range ok {
		if f.Heartbeats == nil {
			continue
		}
		if h.Heartbeats == nil {
			h.Heartbeats = &Heartbeats{PeriodNs: f.Heartbeats.PeriodNs}
		}
		s := h.Heartbeats
		s.Due += f.Heartbeats.Due
		s.Sent += f.Heartbeats.Sent
		s.Answered += f.Heartbeats.Answered
		s.Late += f.Heartbeats.Late
		s.LateSent += f.Heartbeats.LateSent
		s.MaxSendLagNs = max(s.MaxSendLagNs, f.Heartbeats.MaxSendLagNs)
	}
	var first *Scale
	for _, f := range ok {
		if f.Scale != nil {
			first = f.Scale
			break
		}
	}
	if first == nil {
		return
	}
	med := func(get func(*Scale) *float64) *float64 {
		var xs []float64
		for _, f := range ok {
			if f.Scale != nil {
				if v := get(f.Scale); v != nil {
					xs = append(xs, *v)
				}
			}
		}
		if len(xs) == 0 {
			return nil
		}
		return Val(Median(xs))
	}
	connect := med(func(s *Scale) *float64 { return Val(float64(s.ConnectNs)) })
	h.Scale = &Scale{
		ConnectNs:            int64(*connect),
		AcceptPerSec:         med(func(s *Scale) *float64 { return s.AcceptPerSec }),
		RSSEmptyBytes:        med(func(s *Scale) *float64 { return s.RSSEmptyBytes }),
		RSSBytes:             med(func(s *Scale) *float64 { return s.RSSBytes }),
		RSSBytesPerConn:      med(func(s *Scale) *float64 { return s.RSSBytesPerConn }),
		RSSAboveEmptyPerConn: med(func(s *Scale) *float64 { return s.RSSAboveEmptyPerConn }),
		SockMemBytes:         med(func(s *Scale) *float64 { return s.SockMemBytes }),
		SockMemBytesPerConn:  med(func(s *Scale) *float64 { return s.SockMemBytesPerConn }),
		SocketsInUse:         med(func(s *Scale) *float64 { return s.SocketsInUse }),
		SourceAddrs:          first.SourceAddrs,
		LoadProcs:            first.LoadProcs,
		NofileSoft:           first.NofileSoft,
		NofileHard:           first.NofileHard,
		Ceiling:              first.Ceiling,
	}
}
