package scanner

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBurst bounds the burst NewLimiter allows, whatever the rate.
const maxBurst = 1 << 20

// Limiter paces filesystem calls (Config.Limiter): a token bucket of
// golang.org/x/time/rate, one token a call.
//
// It takes tokens one caller at a time, reading the clock under its lock:
// rate.Limiter reads it before taking its own, and when a hundred workers
// take tokens at once a caller that read the clock earlier but got the
// lock later moves the bucket's clock back, and the time counted twice
// becomes tokens (golang/go#65508). On a FUSE mount at 2,000 calls a
// second that let through 1.5 % more than the limit.
type Limiter struct {
	mu sync.Mutex
	b  *rate.Limiter
}

// NewLimiter returns a limiter of opsPerSecond filesystem calls a second,
// for Config.Limiter, or nil (no limit) when opsPerSecond is not positive.
// It allows a burst of a tenth of a second's calls, at least one: enough
// that workers starting together are not serialised on the first token,
// too few to spend the filesystem's headroom in one go.
func NewLimiter(opsPerSecond float64) *Limiter {
	if !(opsPerSecond > 0) {
		return nil
	}
	burst := 1
	if b := opsPerSecond / 10; b > 1 {
		burst = int(min(b, maxBurst))
	}
	return newLimiter(rate.Limit(opsPerSecond), burst)
}

func newLimiter(r rate.Limit, burst int) *Limiter {
	return &Limiter{b: rate.NewLimiter(r, burst)}
}

// reserve takes the next token and returns when it may be used.
func (l *Limiter) reserve() *rate.Reservation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.ReserveN(time.Now(), 1)
}

// cancel gives back the token of r, not used.
func (l *Limiter) cancel(r *rate.Reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.CancelAt(time.Now())
}

// pace waits until lim lets n more filesystem calls be made, or until ctx
// is done, and then returns ctx's error. A nil lim never waits.
//
// It reserves rather than calling rate.Limiter.Wait: Wait fails at once
// when the token would come after ctx's deadline, with an error that is
// not ctx's, and a budgeted walk (a ctx with a deadline) would report a
// session failed where it should stop when the deadline comes. A wait that
// ends with ctx gives its token back.
func pace(ctx context.Context, lim *Limiter, n int) error {
	if lim == nil {
		return nil
	}
	for range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := lim.reserve()
		d := r.Delay()
		if d <= 0 {
			continue
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			lim.cancel(r)
			return ctx.Err()
		}
	}
	return nil
}
