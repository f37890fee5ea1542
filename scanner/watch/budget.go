package watch

import (
	"os"
	"strconv"
	"strings"
)

// maxUserWatchesFile holds the kernel's limit of inotify watches per user.
const maxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"

// fallbackMaxUserWatches is the kernel's old default limit, assumed when
// the limit cannot be read.
const fallbackMaxUserWatches = 8192

// DefaultMaxWatches returns the watch budget used when none is given: half
// of the kernel's limit per user (/proc/sys/fs/inotify/max_user_watches),
// which every program of the same user shares, so that the others keep
// room.
func DefaultMaxWatches() int {
	text, err := os.ReadFile(maxUserWatchesFile)
	if err != nil {
		return budgetFrom("")
	}
	return budgetFrom(string(text))
}

// budgetFrom returns half of the limit written in text.
func budgetFrom(text string) int {
	limit, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || limit <= 0 {
		limit = fallbackMaxUserWatches
	}
	return max(limit/2, 1)
}
