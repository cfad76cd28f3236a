// Package cli holds what every iobench subcommand shares: the exit-code convention and flag
// parsing that reports one clear line.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes: 0 success, 1 the run failed (verification, a measured failure), 2 bad usage or
// bad input (unknown backend, bad flags, bad address, port in use, unreadable results), 130
// stopped by SIGINT (143 for SIGTERM: 128 + the signal number, the shell's convention).
const (
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Error carries an exit code.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Usage wraps err as a usage error (exit 2).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ExitUsage, Err: err}
}

// Usagef formats a usage error (exit 2).
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

// Failure wraps err as a run failure (exit 1).
func Failure(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ExitFailure, Err: err}
}

// Interrupted wraps err as "stopped by a signal" (exit 130, or 128 + the signal number when
// the command's main knows which signal it was: see SignalCode).
func Interrupted(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ExitInterrupted, Err: err}
}

// SignalCode is the exit code of a command stopped by signal number signo: 128 + signo.
func SignalCode(signo int) int { return 128 + signo }

// Code is the exit code for err: 0 for nil, the code of an *Error, 1 otherwise.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailure
}

// NewFlagSet returns a FlagSet that reports errors instead of exiting and prints its usage to
// stderr.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args; -h prints usage and returns flag.ErrHelp as a usage error; any other
// flag error or a stray positional argument (unless allowArgs) is a usage error.
func Parse(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		return Usage(err)
	}
	if !allowArgs && fs.NArg() > 0 {
		return Usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
