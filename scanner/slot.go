package scanner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A walk has Config.Workers slots: a goroutine holds one while it reads the
// filesystem, so they bound the operations in flight. A system call cannot
// be interrupted, and a server that stops answering never returns one, so a
// slot also lets the walk's watchdog leave such a goroutine behind: the
// holder marks every call it makes (enter, exit), and when one has not
// returned after Config.IOTimeout, or the walk is cancelled, the watchdog
// detaches the slot. It then finishes the holder's work on its behalf
// (abandon: the session fails with ErrIOTimeout) and puts a fresh slot in
// its place. If the call ever returns, the holder finds its slot detached
// and gives up without touching anything shared.
//
// Marking a call costs two uncontended atomic operations, where running it
// on a goroutine of its own under a timer costs microseconds: the walk makes
// one call per directory entry.
type slot struct {
	// word counts calls: it is odd while the holder is inside one, and
	// slotDetached is set once the watchdog has given up on the holder.
	word atomic.Uint64
	// abandon finishes the holder's work when the slot is detached, given
	// where and why. It is set before the holder's first call; only the
	// watchdog calls it.
	abandon func(where string, err error)
	// where names what the holder is reading, for the error abandon reports.
	where string
	// buf is the native walk's directory buffer, allocated on first use.
	buf []byte
	// pace, when not nil, waits for the walk's Config.Limiter to allow one
	// more call, or returns the walk's error once it is cancelled.
	pace func() error
}

const slotDetached = 1 << 63

// errDetached is what a holder returns once it found its slot detached: the
// watchdog has already finished its work.
var errDetached = errors.New("scanner: slot detached")

// do makes op, one filesystem call of the slot's holder, under the
// watchdog, and returns its error, or errDetached when the watchdog gave up
// on the holder meanwhile: undo (if not nil) then releases what op acquired,
// and the holder must return errDetached at once. Every filesystem call of
// a walk goes through do, and every call outside a walk (CheckRoot,
// WorkspaceIDs, a session's restat) through bounded: a call made otherwise
// would neither time out nor let a cancelled walk stop, nor keep to
// Config.Limiter.
//
// Under a limiter, do first waits for a token, outside the call: the
// watchdog does not time a wait (the filesystem is not hung, the walk is
// holding back), and a walk cancelled meanwhile makes do return its error
// without making op, as a call that failed. The holder keeps its slot while
// it waits, so that Workers still bounds the calls begun.
func (sl *slot) do(op func() error, undo func()) error {
	if sl.pace != nil {
		if err := sl.pace(); err != nil {
			return err
		}
	}
	sl.enter()
	err := op()
	if !sl.exit() {
		if undo != nil {
			undo()
		}
		return errDetached
	}
	return err
}

// enter marks the start of a filesystem call; only do calls it.
func (sl *slot) enter() { sl.word.Add(1) }

// detached reports whether the watchdog has given up on the holder; a
// holder waiting inside a call stops waiting then.
func (sl *slot) detached() bool { return sl.word.Load()&slotDetached != 0 }

// exit marks the end of the call begun by enter and reports whether the slot
// is still the holder's. On false the holder must return errDetached at once.
func (sl *slot) exit() bool {
	v := sl.word.Load()
	// Only the watchdog changes word besides the holder, and only to set
	// slotDetached: a failed swap means it did.
	return v&slotDetached == 0 && sl.word.CompareAndSwap(v, v+1)
}

// group runs the goroutines of a walk. Like errgroup.Group, the first error
// cancels the walk's context and is what wait returns. Unlike it, a
// goroutine whose slot was detached is counted as finished by the watchdog,
// so that wait never waits for a system call that does not return.
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
	mu     sync.Mutex
	err    error
}

// start runs f on a new goroutine. f returns errDetached when it gave up
// because its slot was detached: its finish was the watchdog's.
func (g *group) start(f func() error) {
	g.wg.Add(1)
	go func() {
		if err := f(); !errors.Is(err, errDetached) {
			g.finish(err)
		}
	}()
}

// finish counts one goroutine as finished, with its error.
func (g *group) finish(err error) {
	if err != nil {
		g.fail(err)
	}
	g.wg.Done()
}

func (g *group) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
		g.cancel()
	}
	g.mu.Unlock()
}

func (g *group) wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// watchdog owns the slots of a walk: it makes them, and detaches the holder
// of one whose call has not returned within timeout (when timeout > 0) or
// that is inside a call when the walk is cancelled.
type watchdog struct {
	ctx     context.Context
	timeout time.Duration
	// pace is what every slot waits on before a call (slot.pace).
	pace  func() error
	pool  chan *slot
	slots []*slot // only the watchdog's goroutine touches it once run starts
	// retired counts the calls made on slots that were detached, the one
	// abandoned included; only the watchdog's goroutine touches it.
	retired uint64
	stop    chan struct{}
	stopped chan struct{}
}

func newWatchdog(ctx context.Context, n int, timeout time.Duration, lim *Limiter) *watchdog {
	d := &watchdog{ctx: ctx, timeout: timeout, pool: make(chan *slot, n),
		slots: make([]*slot, n), stop: make(chan struct{}), stopped: make(chan struct{})}
	if lim != nil {
		d.pace = func() error { return pace(ctx, lim, 1) }
	}
	for i := range d.slots {
		d.slots[i] = &slot{pace: d.pace}
		d.pool <- d.slots[i]
	}
	return d
}

// cancelPoll is how often a cancelled walk looks for holders still inside a
// call.
const cancelPoll = 2 * time.Millisecond

// run watches until close(d.stop). A call is timed out after between one
// and one and a quarter timeouts.
func (d *watchdog) run() {
	defer close(d.stopped)
	const ticks = 4 // per timeout
	var tick <-chan time.Time
	if d.timeout > 0 {
		t := time.NewTicker(max(d.timeout/ticks, time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	// seen[i] is the value of slot i's word when it was first seen inside
	// the same call, and at which tick.
	type sighting struct {
		word uint64
		at   int
	}
	seen := make([]sighting, len(d.slots))
	for n := 1; ; n++ {
		select {
		case <-d.stop:
			return
		case <-d.ctx.Done():
			d.cancelled()
			return
		case <-tick:
		}
		for i, sl := range d.slots {
			v := sl.word.Load()
			if v&1 == 0 || v&slotDetached != 0 {
				continue // not inside a call
			}
			if seen[i].word != v {
				seen[i] = sighting{v, n}
				continue
			}
			if n-seen[i].at >= ticks {
				d.detach(i, v, fmt.Errorf("%w after %v", ErrIOTimeout, d.timeout))
				seen[i] = sighting{}
			}
		}
	}
}

// cancelled detaches every holder inside a call, now and until the walk
// ends: a holder that is not will see the cancellation itself.
func (d *watchdog) cancelled() {
	t := time.NewTicker(cancelPoll)
	defer t.Stop()
	for {
		for i, sl := range d.slots {
			if v := sl.word.Load(); v&1 == 1 && v&slotDetached == 0 {
				d.detach(i, v, d.ctx.Err())
			}
		}
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// detach gives up on the holder of slot i if its word is still v.
func (d *watchdog) detach(i int, v uint64, err error) {
	sl := d.slots[i]
	if !sl.word.CompareAndSwap(v, v|slotDetached) {
		return // the call returned meanwhile
	}
	d.retired += (v + 1) / 2
	fresh := &slot{pace: d.pace}
	d.slots[i] = fresh
	d.pool <- fresh // never blocks: the detached slot is out of the pool
	go sl.abandon(sl.where, err)
}

// close stops the watchdog and returns once it has stopped. It must be
// called after every goroutine of the walk has finished.
func (d *watchdog) close() {
	close(d.stop)
	<-d.stopped
}

// calls returns how many filesystem calls were made on the walk's slots.
// Each call adds 2 to its slot's word (enter, exit). Call it after close.
func (d *watchdog) calls() int64 {
	n := d.retired
	for _, sl := range d.slots {
		n += (sl.word.Load() &^ slotDetached) / 2
	}
	return int64(n)
}
