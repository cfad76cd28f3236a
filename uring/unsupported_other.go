//go:build !linux

package uring

import "github.com/iobench/iobench/models"

func available() error { return models.Unsupported(Name, "Linux only") }

func newEngine(models.Config) (models.Engine, error) { return nil, available() }
