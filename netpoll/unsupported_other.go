//go:build !linux && !darwin

package netpoll

import "github.com/iobench/iobench/models"

func available() error {
	return models.Unsupported(Name, "cloudwego/netpoll runs on linux and darwin only")
}

// New returns the Available error: netpoll does not exist on this platform.
func New(models.Config) (models.Engine, error) { return nil, available() }
