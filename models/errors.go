package models

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	// ErrUnsupported is returned (wrapped in an *UnsupportedError carrying the reason) by a
	// backend this platform or kernel lacks. A backend is never a nil stub.
	ErrUnsupported = errors.New("backend unsupported on this platform")
	// ErrUnknownBackend is returned by Lookup and Open for a name nobody registered.
	ErrUnknownBackend = errors.New("unknown backend")
	// ErrClosed is returned by operations on a closed engine, service or session.
	ErrClosed = errors.New("closed")
	// ErrSendQueueFull is returned by Session.Send when the bounded send queue would overflow;
	// the session is kicked with KickSendQueueFull.
	ErrSendQueueFull = errors.New("send queue full")
	// ErrPoolExhausted is counted when a connection is refused because the SessionPool is empty.
	ErrPoolExhausted = errors.New("session pool exhausted")
	// ErrBadConfig is wrapped by constructors that reject their input.
	ErrBadConfig = errors.New("bad config")
)

// UnsupportedError says why a backend cannot run here. It matches ErrUnsupported.
type UnsupportedError struct {
	Backend string
	Reason  string
}

func (e *UnsupportedError) Error() string {
	return e.Backend + ": unsupported: " + e.Reason
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// Unsupported builds the error a backend returns where it cannot run.
func Unsupported(backend, reason string) error {
	return &UnsupportedError{Backend: backend, Reason: reason}
}

// OpError wraps a failing operation (usually a syscall) with the backend and operation name.
type OpError struct {
	Backend string // e.g. "epoll"
	Op      string // e.g. "epoll_wait", "AcceptEx", "listen"
	Err     error
}

func (e *OpError) Error() string {
	if e.Err == nil {
		return e.Backend + ": " + e.Op
	}
	return e.Backend + ": " + e.Op + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// WrapOp returns nil for a nil err and an *OpError otherwise.
func WrapOp(backend, op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Backend: backend, Op: op, Err: err}
}

func badConfig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
}
