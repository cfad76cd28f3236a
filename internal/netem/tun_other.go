//go:build !linux

package netem

import (
	"errors"
	"os"
)

// OpenTUN needs Linux's TUN driver.
func OpenTUN(name string) (*os.File, error) {
	return nil, errors.New("TUN devices: Linux only")
}
