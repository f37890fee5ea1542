package watch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// advance moves the clock and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// step is one action in a queue scenario: advance the clock, add keys, and
// check what is due.
type step struct {
	after time.Duration // advance the clock by this first
	add   []string
	want  []string // keys dueNow must return now, in this order, then nothing
	done  []string // Done for these after the check
}

func TestQueueDebounce(t *testing.T) {
	const quiet, maxDelay = 2 * time.Second, 30 * time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "one event is due after the quiet period",
			steps: []step{
				{add: []string{"a"}},
				{after: quiet - time.Millisecond},
				{after: time.Millisecond, want: []string{"a"}, done: []string{"a"}},
				{after: time.Hour},
			},
		},
		{
			name: "events in a burst are merged into one key",
			steps: []step{
				{add: []string{"a", "a", "a"}},
				{after: time.Second, add: []string{"a"}},
				{after: time.Second, add: []string{"a"}}, // quiet restarts
				{after: quiet - time.Millisecond},
				{after: time.Millisecond, want: []string{"a"}, done: []string{"a"}},
				{after: time.Hour},
			},
		},
		{
			name: "a key written without pause is due at the cap",
			steps: func() []step {
				s := []step{{add: []string{"a"}}}
				for range 29 {
					s = append(s, step{after: time.Second, add: []string{"a"}})
				}
				// 30 s after the first event, with the last one a
				// second ago: due anyway.
				return append(s, step{after: time.Second, want: []string{"a"}, done: []string{"a"}})
			}(),
		},
		{
			// Processed for 3 s, the next processing is due 30 - 3 s after
			// the hand-out: when it takes as long, it ends 27 s after
			// this one did, and up to twice as long it ends within the
			// cap of 30 s.
			name: "a key written without pause while processed is due the cap after the end of its processing, less its time",
			steps: func() []step {
				s := []step{{add: []string{"a"}}, {after: quiet, want: []string{"a"}}}
				for range 3 { // processed for 3 s, written every second
					s = append(s, step{after: time.Second, add: []string{"a"}})
				}
				s[len(s)-1].done = []string{"a"}
				for range 23 {
					s = append(s, step{after: time.Second, add: []string{"a"}})
				}
				return append(s, step{after: time.Second, want: []string{"a"}, done: []string{"a"}})
			}(),
		},
		{
			name: "a key processed for longer than half the cap and added meanwhile is due at Done",
			steps: []step{
				{add: []string{"a"}},
				{after: quiet, want: []string{"a"}},
				{after: time.Second, add: []string{"a"}},
				{after: maxDelay / 2, add: []string{"a"}, done: []string{"a"}},
				{want: []string{"a"}, done: []string{"a"}},
			},
		},
		{
			name: "keys are due in order of their quiet periods",
			steps: []step{
				{add: []string{"b"}},
				{after: time.Second, add: []string{"a"}},
				{after: time.Second, want: []string{"b"}, done: []string{"b"}},
				{after: time.Second, want: []string{"a"}, done: []string{"a"}},
			},
		},
		{
			name: "a key added while processed is queued again at Done, not handed out twice",
			steps: []step{
				{add: []string{"a"}},
				{after: quiet, want: []string{"a"}},
				{add: []string{"a"}},
				{after: quiet}, // still being processed: not handed out
				{done: []string{"a"}},
				{want: []string{"a"}, done: []string{"a"}}, // quiet since the Add: due at once
				{after: time.Hour},
			},
		},
		{
			name: "a key added while processed waits its own quiet period after Done",
			steps: []step{
				{add: []string{"a"}},
				{after: quiet, want: []string{"a"}},
				{add: []string{"a"}, done: []string{"a"}},
				{after: quiet - time.Millisecond},
				{after: time.Millisecond, want: []string{"a"}, done: []string{"a"}},
			},
		},
		{
			name: "Done for a key not added again queues nothing",
			steps: []step{
				{add: []string{"a"}},
				{after: quiet, want: []string{"a"}, done: []string{"a"}},
				{done: []string{"a"}},
				{after: time.Hour},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			q := NewQueue(QueueConfig{Quiet: quiet, MaxDelay: maxDelay, Clock: clock})
			for i, s := range tc.steps {
				clock.advance(s.after)
				for _, k := range s.add {
					q.Add(k)
				}
				for _, want := range s.want {
					got, ok := dueNow(q)
					if !ok || got != want {
						t.Fatalf("step %d: dueNow = %q, %v; want %q", i, got, ok, want)
					}
				}
				if got, ok := dueNow(q); ok {
					t.Fatalf("step %d: dueNow = %q; want nothing due", i, got)
				}
				for _, k := range s.done {
					q.Done(k)
				}
			}
		})
	}
}

func TestQueueLen(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueConfig{Clock: clock})
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if n := q.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	clock.advance(DefaultQuiet)
	k, _ := dueNow(q)
	if n := q.Len(); n != 1 {
		t.Fatalf("Len with one key handed out = %d, want 1", n)
	}
	q.Add(k) // added again while processed: waiting, so counted
	if n := q.Len(); n != 2 {
		t.Fatalf("Len with one key added again while processed = %d, want 2", n)
	}
}

func TestQueueGetWaitsForTheClock(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueConfig{Quiet: time.Second, Clock: clock})
	q.Add("a")
	got := make(chan string)
	go func() {
		k, err := q.Get(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- k
	}()
	// Get waits on the clock: advance it until the timer it set fires.
	for {
		select {
		case k := <-got:
			if k != "a" {
				t.Fatalf("Get = %q, want a", k)
			}
			return
		default:
			clock.advance(100 * time.Millisecond)
			// Let the waiting goroutine run; no timing is asserted.
			time.Sleep(time.Millisecond)
		}
	}
}

func TestQueueGetWakesOnAdd(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueConfig{Quiet: time.Second, Clock: clock})
	got := make(chan string)
	go func() {
		k, _ := q.Get(context.Background())
		got <- k
	}()
	// Get is waiting on an empty queue: no timer. The Add must wake it,
	// and it then waits for the key's quiet period on the clock.
	q.Add("a")
	for {
		select {
		case k := <-got:
			if k != "a" {
				t.Fatalf("Get = %q, want a", k)
			}
			return
		default:
			clock.advance(100 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
}

func TestQueueGetCancelled(t *testing.T) {
	q := NewQueue(QueueConfig{Clock: newFakeClock()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get on a cancelled context = %v, want context.Canceled", err)
	}
}

// dueNow returns a key that is due now, if there is one, and marks it as
// being processed, without waiting as Get does.
func dueNow(q *Queue) (string, bool) {
	key, _, ok := q.tryGet()
	return key, ok
}
