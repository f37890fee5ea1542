package watch

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isNoSpace reports the error inotify_add_watch gives once the user's watch
// limit is reached.
func isNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) }
