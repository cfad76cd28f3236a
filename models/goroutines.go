package models

import (
	"bytes"
	"runtime"
	"sync"
)

// Goroutines is the set of an engine's own goroutines that run callbacks or Post jobs (its
// loops, per-session goroutines, its job loop). Engine.Close and Service.Close ask Current:
// called from one of them, they must not wait for the engine, which would wait for the
// caller itself. Adding costs one runtime.Stack call (about a microsecond), so backends add a
// goroutine when it starts (a loop, a session's reader), never per message.
type Goroutines struct {
	m sync.Map // goroutine id → struct{}
}

// Add records the calling goroutine and returns the function that removes it again.
func (g *Goroutines) Add() (remove func()) {
	id := GoID()
	g.m.Store(id, struct{}{})
	return func() { g.m.Delete(id) }
}

// Current reports whether the calling goroutine is one of the set.
func (g *Goroutines) Current() bool {
	_, ok := g.m.Load(GoID())
	return ok
}

// GoID is the calling goroutine's id, parsed from its stack header ("goroutine 42 [...").
func GoID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
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

// Close runs teardown once (see the type doc) and returns its error to the callers that
// waited for it.
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

// Closed reports whether Close has been called.
func (c *Closer) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done != nil
}
