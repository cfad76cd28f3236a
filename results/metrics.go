package results

// Metric names one comparable number of a Figures, with its unit and direction, so the report
// and the Go benchmark writer treat every metric the same way.
type Metric struct {
	Name         string // stable identifier, also the benchstat unit suffix
	Title        string // human title
	Unit         string // unit of the stored value
	HigherBetter bool
	Get          func(*Figures) *float64 // nil when not measured
}

// The comparable metrics. Stored units: ns, bytes, counts, msgs/s.
var (
	MetricMsgsPerSec = Metric{"msgs/s", "throughput", "msgs/s", true,
		func(f *Figures) *float64 { return f.MsgsPerSec }}
	MetricMBPerSec = Metric{"MB/s", "bandwidth", "MB/s", true,
		func(f *Figures) *float64 { return f.MBPerSec }}
	MetricLatencyP50 = Metric{"p50-ns", "latency p50", "ns", false,
		func(f *Figures) *float64 { return latency(f, func(l *Latency) *float64 { return l.P50 }) }}
	MetricLatencyP99 = Metric{"p99-ns", "latency p99", "ns", false,
		func(f *Figures) *float64 { return latency(f, func(l *Latency) *float64 { return l.P99 }) }}
	MetricLatencyP999 = Metric{"p99.9-ns", "latency p99.9", "ns", false,
		func(f *Figures) *float64 { return latency(f, func(l *Latency) *float64 { return l.P999 }) }}
	MetricServerCPU = Metric{"server-cpu-ns/msg", "server CPU per msg", "ns", false,
		func(f *Figures) *float64 { return server(f, func(s *ServerMetrics) *float64 { return s.CPUNsPerMsg }) }}
	MetricSyscalls = Metric{"syscalls/msg", "syscalls per msg", "count", false,
		func(f *Figures) *float64 {
			return server(f, func(s *ServerMetrics) *float64 { return s.SyscallsPerMsg })
		}}
	MetricCtxSwitches = Metric{"ctxsw/msg", "context switches per msg", "count", false,
		func(f *Figures) *float64 {
			return server(f, func(s *ServerMetrics) *float64 { return s.CtxSwitchesPerMsg })
		}}
	MetricRSSPerConn = Metric{"rss-B/conn", "RSS per connection", "bytes", false,
		func(f *Figures) *float64 {
			return server(f, func(s *ServerMetrics) *float64 { return s.RSSBytesPerConn })
		}}
	MetricClientCPU = Metric{"client-cpu-ns/msg", "client CPU per msg", "ns", false,
		func(f *Figures) *float64 {
			if f.Client == nil {
				return nil
			}
			return f.Client.CPUNsPerMsg
		}}
)

// Metrics lists the comparable metrics in report order.
var Metrics = []Metric{MetricMsgsPerSec, MetricMBPerSec, MetricLatencyP50, MetricLatencyP99,
	MetricLatencyP999, MetricServerCPU, MetricSyscalls, MetricCtxSwitches, MetricRSSPerConn,
	MetricClientCPU}

func latency(f *Figures, get func(*Latency) *float64) *float64 {
	if f.Latency == nil {
		return nil
	}
	return get(f.Latency)
}

func server(f *Figures, get func(*ServerMetrics) *float64) *float64 {
	if f.Server == nil {
		return nil
	}
	return get(f.Server)
}

// Samples returns the per-repetition values of m in r: the repetitions that count for its
// headline ([Result.Counted]: not failed, not interrupted, in the headline's saturation state)
// and measured m.
func (m Metric) Samples(r *Result) []float64 {
	var xs []float64
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		if !r.Counted(rep) {
			continue
		}
		if p := m.Get(&rep.Figures); p != nil {
			xs = append(xs, *p)
		}
	}
	return xs
}
