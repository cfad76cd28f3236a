//go:build !linux

package epoll

import "github.com/iobench/iobench/models"

// available says why there is no epoll here: it is a Linux system call
// (https://man7.org/linux/man-pages/man7/epoll.7.html).
func available() error { return models.Unsupported(Name, "Linux only") }

func newEngine(models.Config) (models.Engine, error) { return nil, available() }
