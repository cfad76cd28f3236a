package apps

// Reporter is the optional interface of an app that counts events of its own, beyond the
// service's counters: the crypto app's authentication failures by cause, the logging app's
// log lines. `iobench serve` can print AppStats next to models.ServiceStats; keys are
// snake_case and stable, values are totals since the app was built.
type Reporter interface {
	AppStats() map[string]uint64
}
