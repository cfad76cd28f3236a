//go:build !windows

package iocp

import "github.com/iobench/iobench/models"

func available() error {
	return models.Unsupported(Name, "Windows only (I/O completion ports)")
}

func newEngine(models.Config) (models.Engine, error) { return nil, available() }
