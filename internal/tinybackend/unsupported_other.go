//go:build !linux

package tinybackend

import "github.com/iobench/iobench/models"

func available() error { return models.Unsupported(Name, "Linux only (raw blocking system calls)") }

// New returns the Available error.
func New(models.Config) (models.Engine, error) { return nil, available() }
