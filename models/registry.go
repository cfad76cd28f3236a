package models

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// Backend is one registered I/O model.
type Backend struct {
	// Name is the folder name of the backend, used in flags, results and plots.
	Name string
	// Summary is one line saying what the model is.
	Summary string
	// Available returns nil where the backend runs, or an error matching ErrUnsupported that
	// says why not (wrong OS, kernel feature missing, Wine lacks the API, ...).
	Available func() error
	// New builds an engine. It returns the Available error where the backend cannot run.
	New func(cfg Config) (Engine, error)
	// Note is an optional caveat printed next to an available backend (e.g. "development mode
	// over Go net on Windows").
	Note string
}

var (
	regMu    sync.RWMutex
	registry = map[string]Backend{}
)

// Register adds a backend; each backend package calls it from init. It panics on a duplicate
// or incomplete registration (a programming error).
func Register(b Backend) {
	if b.Name == "" || b.New == nil || b.Available == nil {
		panic("models.Register: incomplete backend " + b.Name)
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[b.Name]; dup {
		panic("models.Register: duplicate backend " + b.Name)
	}
	registry[b.Name] = b
}

// Lookup finds a registered backend by name.
func Lookup(name string) (Backend, error) {
	regMu.RLock()
	b, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return Backend{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownBackend, name, Names())
	}
	return b, nil
}

// Backends lists every registered backend, sorted by name.
func Backends() []Backend {
	regMu.RLock()
	out := make([]Backend, 0, len(registry))
	for _, b := range registry {
		out = append(out, b)
	}
	regMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the registered backend names, sorted.
func Names() []string {
	bs := Backends()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out
}

// Available lists the names of the backends that run here, sorted.
func Available() []string {
	var out []string
	for _, b := range Backends() {
		if b.Available() == nil {
			out = append(out, b.Name)
		}
	}
	return out
}

// Open looks a backend up, checks it runs here and builds an engine with cfg.
func Open(name string, cfg Config) (Engine, error) {
	b, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if err := b.Available(); err != nil {
		return nil, err
	}
	return b.New(cfg)
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
