//go:build !linux

package scanner

import (
	"context"

	"github.com/spf13/afero"
)

// walkNative reports that there is no native walk outside Linux: every
// filesystem is read through afero.
func walkNative(context.Context, afero.Fs, string, Config, func(Entry) error, func(walkerStarter) error) (bool, error) {
	return false, nil
}

// lookupNative reports that there is no native look outside Linux.
func lookupNative(afero.Fs, string, string) (stat, bool, error) { return stat{}, false, nil }
