package scanner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultIOTimeout bounds one filesystem operation when Config.IOTimeout is 0.
const DefaultIOTimeout = 30 * time.Second

// ErrIOTimeout reports a filesystem operation that did not answer in time,
// as a stalled NFS server does.
var ErrIOTimeout = errors.New("scanner: filesystem operation timed out")

func (c Config) ioTimeout() time.Duration {
	if c.IOTimeout == 0 {
		return DefaultIOTimeout
	}
	return max(c.IOTimeout, 0)
}

// bounds is how a call outside a walk is made: paced by lim, bounded by
// timeout, and counted in prog.Calls (when prog is not nil).
type bounds struct {
	timeout time.Duration
	lim     *Limiter
	prog    *Progress
}

func (c Config) bounds() bounds {
	return bounds{timeout: c.ioTimeout(), lim: c.Limiter, prog: c.Progress}
}

// bounded runs op, which makes calls filesystem calls, and waits for it
// until ctx is done or b.timeout (if > 0) passes. It bounds the single
// calls made outside a walk (CheckRoot, a session's restat); a walk,
// which makes one call per entry, uses its watchdog instead. A system call
// cannot be interrupted: an op that hangs is left behind on its own
// goroutine and its result dropped, so that one stalled server never holds
// up the walk or a clean stop. Under a limiter op waits for its calls'
// tokens first, and the timeout runs from when it has them.
func bounded[T any](ctx context.Context, b bounds, calls int, op func() (T, error)) (T, error) {
	var zero T
	if err := pace(ctx, b.lim, calls); err != nil {
		return zero, err
	}
	if b.prog != nil {
		b.prog.Calls.Add(int64(calls))
	}
	timeout := b.timeout
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op()
		done <- result{v, err}
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-expired:
		return zero, fmt.Errorf("%w after %v", ErrIOTimeout, timeout)
	}
}
