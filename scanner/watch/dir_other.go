//go:build !linux

package watch

import "errors"

type dirs struct{ root string }

var errSkip = errors.New("watch: not a directory on the root's filesystem")

func openRoot(root string) (*dirs, error) {
	return nil, errors.New("watch: needs Linux (inotify, openat2)")
}

func (d *dirs) close()                                         {}
func (d *dirs) replaced() (bool, error)                        { return false, nil }
func (d *dirs) open(rel string) (int, error)                   { return -1, errSkip }
func (d *dirs) openChild(parent int, name string) (int, error) { return -1, errSkip }
