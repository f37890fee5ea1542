package watch

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Default debounce settings.
const (
	// DefaultQuiet is how long a session must go without events before it
	// is measured.
	DefaultQuiet = 2 * time.Second
	// DefaultMaxDelay caps the wait after a session's first event, so that
	// a session written without pause is still measured this often.
	DefaultMaxDelay = 30 * time.Second
)

// Clock is the time source of a Queue.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// QueueConfig controls a Queue. The zero value is valid.
type QueueConfig struct {
	// Quiet is the time without events after which a key is due; <= 0
	// means DefaultQuiet.
	Quiet time.Duration
	// MaxDelay is the longest a key waits after the first event that
	// queued it, however busy it stays, and the longest between the ends
	// of two processings of a key whose events never stop (see Done);
	// <= 0 means DefaultMaxDelay. It is raised to Quiet when smaller.
	MaxDelay time.Duration
	// Clock is the time source; nil means the system clock.
	Clock Clock
}

// Queue is a set of keys waiting to be processed, each due once no Add has
// touched it for the quiet period, or at the latest MaxDelay after the Add
// that queued it. A key is in the queue at most once, and is never handed
// to two callers of Get at once: a key added while it is being processed is
// queued again when Done is called for it (see Done for when it is due).
// Its methods are safe for concurrent use.
type Queue struct {
	quiet, maxDelay time.Duration
	clock           Clock

	mu         sync.Mutex
	pending    itemHeap             // waiting, ordered by due time
	byKey      map[string]*item     // the items of pending
	processing map[string]time.Time // handed out by Get (when), Done not yet called
	dirty      map[string]*item     // added while processing: queued at Done
	wake       chan struct{}        // signalled when pending changes
}

type item struct {
	key         string
	first, last time.Time // the first and the latest Add
	due         time.Time
	index       int // in pending
}

// NewQueue returns an empty Queue.
func NewQueue(cfg QueueConfig) *Queue {
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.Quiet)
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &Queue{
		quiet: cfg.Quiet, maxDelay: cfg.MaxDelay, clock: cfg.Clock,
		byKey:      make(map[string]*item),
		processing: make(map[string]time.Time),
		dirty:      make(map[string]*item),
		wake:       make(chan struct{}, 1),
	}
}

// Add records an event for key.
func (q *Queue) Add(key string) {
	now := q.clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.processing[key]; ok {
		if it := q.dirty[key]; it != nil {
			it.last = now
		} else {
			q.dirty[key] = &item{key: key, first: now, last: now}
		}
		return
	}
	if it := q.byKey[key]; it != nil {
		it.last = now
		it.due = q.dueOf(it)
		heap.Fix(&q.pending, it.index)
	} else {
		it := &item{key: key, first: now, last: now}
		it.due = q.dueOf(it)
		q.push(it)
	}
	q.signal()
}

func (q *Queue) dueOf(it *item) time.Time {
	due := it.last.Add(q.quiet)
	if limit := it.first.Add(q.maxDelay); limit.Before(due) {
		due = limit
	}
	return due
}

func (q *Queue) push(it *item) {
	heap.Push(&q.pending, it)
	q.byKey[it.key] = it
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// tryGet returns a due key, or when none is due how long until the next one
// is (0 when the queue is empty).
func (q *Queue) tryGet() (string, time.Duration, bool) {
	now := q.clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return "", 0, false
	}
	next := q.pending[0]
	if wait := next.due.Sub(now); wait > 0 {
		return "", wait, false
	}
	heap.Pop(&q.pending)
	delete(q.byKey, next.key)
	q.processing[next.key] = now
	return next.key, 0, true
}

// Get waits until a key is due and returns it, marked as being processed;
// the caller must call Done with it. It returns ctx.Err() when ctx is done
// first.
func (q *Queue) Get(ctx context.Context) (string, error) {
	for {
		key, wait, ok := q.tryGet()
		if ok {
			return key, nil
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = q.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			// Another waiter may be able to use the wake-up we took.
			q.signal()
			return "", ctx.Err()
		case <-q.wake:
			// A wake-up is for one waiter; pass it on in case the
			// change does not concern this one.
		case <-timer:
		}
	}
}

// Done marks key as processed. When it was added again meanwhile it goes
// back into the queue, due after the quiet period counted from its latest
// Add, and at the latest MaxDelay after Get handed it out less the time its
// processing took. So a key whose events never stop is processed again
// with its processing ending at most MaxDelay after the previous one ended,
// as long as it takes at most twice as long as that one did: watch mode's
// reconcile of a session written without pause takes seconds (a quiet
// wait and two measurements), its row is written at its end, and the row is
// to be written at least every MaxDelay. Counting the cap from the first
// Add after the hand-out, as this did, added the processing's time to it.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	handedOut, ok := q.processing[key]
	delete(q.processing, key)
	it := q.dirty[key]
	if it == nil {
		return
	}
	delete(q.dirty, key)
	if ok {
		it.first = handedOut.Add(-q.clock.Now().Sub(handedOut))
	}
	it.due = q.dueOf(it)
	q.push(it)
	q.signal()
}

// Len returns the number of keys waiting: queued, or added again while being
// processed.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) + len(q.dirty)
}

// itemHeap is a min-heap of items by due time.
type itemHeap []*item

func (h itemHeap) Len() int           { return len(h) }
func (h itemHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h itemHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *itemHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}

func (h *itemHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	it.index = -1
	return it
}
