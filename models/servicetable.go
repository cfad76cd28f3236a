package models

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// ServiceTable is an engine's open services indexed by a small id, for backends whose
// completion keys or event tags carry a service index instead of a pointer (iocp, rio). Get
// is lock-free. Ids are reused: Release frees one for the next Add, so an engine may open and
// close any number of services over its life, at most Cap at once. A backend releases an id
// only when no completion or wake-up naming it can still arrive (after a barrier through its
// loops), since a reused id would route a stale one to the new service.
type ServiceTable[S any] struct {
	slots []atomic.Pointer[S]
	mu    sync.Mutex
	free  []int // released ids, reused first
	next  int   // ids below next have been handed out
}

// NewServiceTable builds a table of capacity ids (0..capacity-1).
func NewServiceTable[S any](capacity int) *ServiceTable[S] {
	return &ServiceTable[S]{slots: make([]atomic.Pointer[S], capacity)}
}

// Cap is how many services can be open at once.
func (t *ServiceTable[S]) Cap() int { return len(t.slots) }

// Add gives s an id; ErrBadConfig when Cap services are open.
func (t *ServiceTable[S]) Add(s *S) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var id int
	switch {
	case len(t.free) > 0:
		id = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	case t.next < len(t.slots):
		id = t.next
		t.next++
	default:
		return -1, fmt.Errorf("%w: more than %d services open on one engine", ErrBadConfig, len(t.slots))
	}
	t.slots[id].Store(s)
	return id, nil
}

// Get is the service with id, or nil.
func (t *ServiceTable[S]) Get(id int) *S {
	if id < 0 || id >= len(t.slots) {
		return nil
	}
	return t.slots[id].Load()
}

// Release frees id for reuse.
func (t *ServiceTable[S]) Release(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id < 0 || id >= len(t.slots) || t.slots[id].Load() == nil {
		return
	}
	t.slots[id].Store(nil)
	t.free = append(t.free, id)
}

// All is every open service.
func (t *ServiceTable[S]) All() []*S {
	t.mu.Lock()
	n := t.next
	t.mu.Unlock()
	var out []*S
	for i := range n {
		if s := t.slots[i].Load(); s != nil {
			out = append(out, s)
		}
	}
	return out
}
