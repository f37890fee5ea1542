package scanner_test

import (
	"os"
	"syscall"
	"time"
)

// changeTimeOf returns fi's change time (ctime), when it has one.
func changeTimeOf(fi os.FileInfo) (time.Time, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Unix()), true
}
