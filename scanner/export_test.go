package scanner

import (
	"runtime"
	"time"

	"golang.org/x/time/rate"

	"github.com/spf13/afero"
)

// Hooks lets the tests inject faults into the native walk, which afero
// wrappers cannot reach; see hooks.
type Hooks struct {
	Open func(path string) error
	Dev  func(path string, dev uint64) uint64
	// LstatDirs makes the native walk lstat every subdirectory before
	// opening it, as it does where d_ino cannot be trusted.
	LstatDirs bool
	// List runs before an open directory is listed.
	List func(path string) error
	// NoOpenat2 makes the native walk do without openat2.
	NoOpenat2 bool
}

// WithHooks returns the host filesystem fsys (an *afero.OsFs) with h
// installed, for Walk, Measure and LookupMany to read natively.
func WithHooks(fsys afero.Fs, h Hooks) afero.Fs {
	return hookedFs{OsFs: fsys.(*afero.OsFs), hooks: &hooks{open: h.Open, dev: h.Dev, lstatDirs: h.LstatDirs, list: h.List, noOpenat2: h.NoOpenat2}}
}

// Native reports whether Walk reads fsys with the native walk.
func Native(fsys afero.Fs) bool {
	_, ok := hostFs(fsys)
	return ok && runtime.GOOS == "linux"
}

// NewLimiterOf returns a limiter of r calls a second with burst b.
func NewLimiterOf(r float64, b int) *Limiter { return newLimiter(rate.Limit(r), b) }

// Rate returns l's rate and burst.
func (l *Limiter) Rate() (float64, int) { return float64(l.b.Limit()), l.b.Burst() }

// Tokens returns the tokens l holds now: below 0 while a call waits.
func (l *Limiter) Tokens() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.TokensAt(time.Now())
}
