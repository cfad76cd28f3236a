package models

import (
	"errors"
	"sync"
)

// ServiceSet is an engine's open services, for backends whose engine keeps no other registry
// (netstd, gnet, netpoll). Add refuses once CloseAll has begun, so a Listen or Connect racing
// Engine.Close is either closed by it or fails with ErrClosed: never left running.
type ServiceSet[S interface {
	comparable
	Close() error
}] struct {
	mu     sync.Mutex
	m      map[S]struct{}
	closed bool
}

// Add registers s; it returns ErrClosed once CloseAll has begun.
func (set *ServiceSet[S]) Add(s S) error {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.closed {
		return ErrClosed
	}
	if set.m == nil {
		set.m = map[S]struct{}{}
	}
	set.m[s] = struct{}{}
	return nil
}

// Remove forgets s (a service that closed on its own).
func (set *ServiceSet[S]) Remove(s S) {
	set.mu.Lock()
	delete(set.m, s)
	set.mu.Unlock()
}

// CloseAll refuses further Adds and closes every registered service, outside the lock (a
// service's Close calls Remove). first is false when an earlier call already did it: the
// engine's own teardown must then not run again.
func (set *ServiceSet[S]) CloseAll() (first bool, err error) {
	set.mu.Lock()
	if set.closed {
		set.mu.Unlock()
		return false, nil
	}
	set.closed = true
	svcs := make([]S, 0, len(set.m))
	for s := range set.m {
		svcs = append(svcs, s)
	}
	set.mu.Unlock()
	var errs []error
	for _, s := range svcs {
		errs = append(errs, s.Close())
	}
	return true, errors.Join(errs...)
}
