//go:build !linux

package scanner

import "errors"

// Remote reports whether path lies on a network filesystem; outside Linux
// it cannot tell.
func Remote(path string) (bool, error) {
	return true, errors.New("scanner: filesystem type unknown outside Linux")
}
