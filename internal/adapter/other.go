//go:build !unix

package adapter

// platformCallbacks: no side writer off Unix.
func platformCallbacks() []any { return nil }
