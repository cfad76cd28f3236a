//go:build !windows

package rio

import (
	"runtime"

	"github.com/iobench/iobench/models"
)

func reason() error {
	return models.Unsupported(Name, "Registered I/O is a Windows API (Windows 8 / Server 2012 and later); this is "+runtime.GOOS)
}

// Available reports why rio cannot run on this platform.
func Available() error { return reason() }

// New returns the Available error: there is no rio engine off Windows.
func New(models.Config) (models.Engine, error) { return nil, reason() }
