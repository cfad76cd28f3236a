package models_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/iobench/iobench/models"
)

func TestErrors(t *testing.T) {
	op := models.WrapOp("epoll", "epoll_wait", syscall.EINTR)
	for _, tc := range []struct {
		name    string
		err     error
		is      []error
		isNot   []error
		message string
	}{
		{"unsupported", models.Unsupported("rio", "Wine lacks RIO"),
			[]error{models.ErrUnsupported}, []error{models.ErrClosed}, "rio: unsupported: Wine lacks RIO"},
		{"wrapped unsupported", fmt.Errorf("open: %w", models.Unsupported("rio", "x")),
			[]error{models.ErrUnsupported}, nil, "open: rio: unsupported: x"},
		{"op error unwraps to the errno", op,
			[]error{syscall.EINTR}, []error{syscall.EAGAIN, models.ErrUnsupported}, "epoll: epoll_wait: interrupted system call"},
		{"op error without cause", &models.OpError{Backend: "uring", Op: "setup"},
			nil, []error{models.ErrClosed}, "uring: setup"},
		{"bad config", func() error { _, err := models.Config{Loops: -1}.WithDefaults(); return err }(),
			[]error{models.ErrBadConfig}, []error{models.ErrUnsupported}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range tc.is {
				if !errors.Is(tc.err, target) {
					t.Errorf("errors.Is(%v, %v) = false", tc.err, target)
				}
			}
			for _, target := range tc.isNot {
				if errors.Is(tc.err, target) {
					t.Errorf("errors.Is(%v, %v) = true", tc.err, target)
				}
			}
			if tc.message != "" && tc.err.Error() != tc.message {
				t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.message)
			}
		})
	}
	t.Run("as", func(t *testing.T) {
		var o *models.OpError
		if !errors.As(fmt.Errorf("listen: %w", op), &o) || o.Backend != "epoll" || o.Op != "epoll_wait" {
			t.Errorf("errors.As OpError = %+v", o)
		}
		var u *models.UnsupportedError
		if !errors.As(models.Unsupported("iocp", "not windows"), &u) || u.Backend != "iocp" {
			t.Errorf("errors.As UnsupportedError = %+v", u)
		}
	})
	t.Run("wrap nil", func(t *testing.T) {
		if err := models.WrapOp("x", "y", nil); err != nil {
			t.Errorf("WrapOp(nil) = %v, want nil (not a typed nil)", err)
		}
	})
}
