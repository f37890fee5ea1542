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

// bounded runs op and waits for it until ctx is done or timeout (if > 0)
// passes. It bounds the single calls made outside a walk (Check, CheckRoot);
// a walk, which makes one call per entry, uses its watchdog instead. A system call cannot be interrupted: an op that hangs is left
// behind on its own goroutine and its result dropped, so that one stalled
// server never holds up the walk or a clean stop.
func bounded[T any](ctx context.Context, timeout time.Duration, op func() (T, error)) (T, error) {
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
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-expired:
		return zero, fmt.Errorf("%w after %v", ErrIOTimeout, timeout)
	}
}
