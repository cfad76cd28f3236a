package models

import (
	"reflect"
	"runtime"
	"strings"
	"sync"
)

// Inside tells whether the calling goroutine runs inside an engine: under one of the
// functions that run its callbacks and Post jobs (a loop's run, a session's reader, a
// library callback the adapter implements, the job loop). Engine.Close, Service.Close and
// Connect ask it: called from inside, they must not wait for the engine, which would wait for
// the caller itself. Current walks the caller's stack (runtime.Callers), so it costs
// microseconds and nothing on any hot path: nothing is registered per goroutine or per
// callback.
type Inside struct {
	names map[string]bool
}

// InsideOf builds the set from the functions (method expressions such as (*loop).run, or
// functions) under which an engine's callbacks and jobs run. The job loop's run is always in
// it. A frame matches a function or any closure inside it.
func InsideOf(fns ...any) Inside {
	in := Inside{names: map[string]bool{funcName((*JobLoop).run): true}}
	for _, f := range fns {
		in.names[funcName(f)] = true
	}
	return in
}

func funcName(f any) string {
	fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer())
	if fn == nil {
		panic("models.InsideOf: not a function")
	}
	return strings.TrimSuffix(fn.Name(), "-fm")
}

var pcPool = sync.Pool{New: func() any { p := make([]uintptr, 64); return &p }}

// Current reports whether the caller runs under one of the set's functions.
func (in Inside) Current() bool {
	pp := pcPool.Get().(*[]uintptr)
	defer pcPool.Put(pp)
	pcs := *pp
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs)
		frames := runtime.CallersFrames(pcs[:n])
		for {
			f, more := frames.Next()
			if in.match(f.Function) {
				return true
			}
			if !more {
				break
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}

// match: the function itself, or a closure in it ("pkg.(*T).run.func1").
func (in Inside) match(name string) bool {
	for {
		if in.names[name] {
			return true
		}
		i := strings.LastIndex(name, ".func")
		if i < 0 {
			return false
		}
		name = name[:i]
	}
}

// Closer runs an engine's teardown exactly once, with the contract's Close semantics:
// Engine.Close called from outside the engine runs (or waits for) the teardown and returns
// when it is complete; called from inside (a callback or a Post job, inside reports true) it
// starts the teardown on a new goroutine and returns at once, since the teardown waits for the
// very callback that called it. Every later Close from outside waits for the same teardown.
type Closer struct {
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// Close runs teardown once (see the type doc) and returns its error to the caller that ran
// it from outside.
func (c *Closer) Close(inside bool, teardown func() error) error {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	done := c.done
	c.mu.Unlock()
	run := func() {
		err := teardown()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(done)
	}
	started := false
	c.once.Do(func() {
		started = true
		if inside {
			go run()
		} else {
			run()
		}
	})
	if inside {
		return nil
	}
	if !started {
		<-done
		return nil // the first caller got the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
