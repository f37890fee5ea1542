package quarantine

import (
	"fmt"
	"sync/atomic"
	"time"

	"sessaudit/scanner"
)

// Config controls Open. The zero value is valid.
type Config struct {
	// IOTimeout bounds each filesystem call (see calls): 0 means
	// scanner.DefaultIOTimeout, a negative value no limit.
	IOTimeout time.Duration
}

// calls makes the filesystem calls of one reclaim, restore or purge, each
// bounded by a timeout, as the scanner bounds its own: a stalled NFS server
// never answers a call, and a system call cannot be interrupted, so a call
// that has not returned in time is left behind on its goroutine and its
// result dropped.
//
// Unlike a walk, which goes on without the session whose call hung, a run
// that abandoned a call stops there: every call after it fails at once
// with the same error, and nothing more is written to the manifest. The
// call may still complete later (a rename the server had received, a
// manifest line), so the state it leaves is the one a crash at that moment
// leaves, which the manifest is made for: a moving line without its moved
// line is resolved by Restore and Purge by looking for the directory's
// identity on both sides. Going on, or recording the call as failed
// (not_moved), could make the manifest lie, and a second line written
// while the first is still in flight could land before it.
//
// It is not safe for concurrent use, no more than the Quarantine, Run,
// Restore or Purge that use it.
type calls struct {
	timeout time.Duration // <= 0: none
	hung    error         // set once a call was abandoned
}

func newCalls(timeout time.Duration) *calls {
	if timeout == 0 {
		timeout = scanner.DefaultIOTimeout
	}
	return &calls{timeout: timeout}
}

// do makes op, one filesystem call described by what, and returns its
// error, or, when it has not returned within the timeout, an error wrapping
// scanner.ErrIOTimeout; so does every call after that one. undo (if not
// nil) is run by an abandoned op that succeeded after all, to release what
// it acquired (a descriptor).
func (c *calls) do(what string, op func() error, undo func()) error {
	if c.hung != nil {
		return c.hung
	}
	if c.timeout <= 0 {
		return op()
	}
	const (
		running = iota
		returned
		abandoned
	)
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		err := op()
		if !state.CompareAndSwap(running, returned) {
			if err == nil && undo != nil {
				undo()
			}
			return
		}
		done <- err
	}()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	if !state.CompareAndSwap(running, abandoned) {
		return <-done // it returned just now
	}
	c.hung = fmt.Errorf("%s: %w after %v; the call may still complete, so this run stops here and records nothing more (restore and purge resolve what the manifest leaves open)",
		what, scanner.ErrIOTimeout, c.timeout)
	return c.hung
}
