package watchmode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"sessaudit/reconcile"
	"sessaudit/scanner/watch"
)

// Events is the filesystem side: a watch.Watcher whose callbacks are the
// Runner's Touched, Overflow, Exhausted, WatchError and RootChanged.
type Events interface {
	// Run delivers events until ctx is done.
	Run(ctx context.Context) error
	// Resync walks the tree again, placing missing watches.
	Resync(ctx context.Context) error
	// Stats returns the counters of the watches.
	Stats() watch.Stats
}

// Result is what a reconcile found and wrote.
type Result struct {
	// Findings are the findings as they stand now, for the session (from
	// SessionReconciler) or for the whole scope (from Rescanner).
	Findings []reconcile.Finding
	// RowsWritten is the number of rows whose verified size was written.
	RowsWritten int
}

// SessionReconciler reconciles one session: it reads the session directory
// of key ("workspace_<id>/session_<id>") and the rows that refer to it as
// they are now, gives them the batch audit's outcome and writes a verified
// size. It must be idempotent and safe for concurrent use with different
// keys.
type SessionReconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// Rescanner audits the whole scope, as the batch audit does.
type Rescanner interface {
	Rescan(ctx context.Context) (Result, error)
}

// Database is the watcher's hold on the database: reachable, and its lock
// held.
type Database interface {
	// Check returns nil while the database answers and the lock is held.
	Check(ctx context.Context) error
	// Reconnect tries once to get back to where Check succeeds: connect,
	// and take the lock again.
	Reconnect(ctx context.Context) error
}

// Config controls a Runner. The zero value of every field works except
// that Log is a no-op logger.
type Config struct {
	// Debounce is the quiet period of a session before it is reconciled;
	// <= 0 means watch.DefaultQuiet.
	Debounce time.Duration
	// MaxDelay caps the wait of a session written without pause; <= 0
	// means watch.DefaultMaxDelay.
	MaxDelay time.Duration
	// RescanInterval is the time between periodic rescans; <= 0 means an
	// hour.
	RescanInterval time.Duration
	// Workers is the number of sessions reconciled at once; <= 0 means 4.
	Workers int
	// CheckInterval is how often the database is checked while up; <= 0
	// means 10 s.
	CheckInterval time.Duration
	// StopGrace is how long a reconcile or rescan in flight may go on
	// after ctx is done, so that its write commits rather than rolls back;
	// <= 0 means 2 s.
	StopGrace time.Duration
	// Labels are added to every metric (shard="1/4", say).
	Labels map[string]string
	Log    zerolog.Logger
}

const (
	defaultRescanInterval = time.Hour
	defaultWorkers        = 4
	defaultCheckInterval  = 10 * time.Second
	defaultStopGrace      = 2 * time.Second
	// Backoff between attempts to reach the database again.
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Reasons for a rescan, as the rescans metric labels them.
const (
	reasonStart    = "start"
	reasonInterval = "interval"
	reasonOverflow = "overflow"
	reasonDatabase = "database"
	reasonRetry    = "retry"
	reasonRoot     = "root"
)

// Runner is one run of watch mode. Create it with New, wire its Touched,
// Overflow, Exhausted and WatchError into the watch.Config of the Events,
// then call Run.
type Runner struct {
	cfg     Config
	log     zerolog.Logger
	queue   *watch.Queue
	session SessionReconciler
	rescan  Rescanner
	db      Database
	metrics *metrics
	found   *findingLog

	// exclusive keeps session reconciles out while a rescan runs, so that
	// what a rescan measured never overwrites a later measurement: events
	// during a rescan wait in the queue and are reconciled after it.
	exclusive sync.RWMutex

	trigger chan string // rescan requests, by reason; one pending at most

	events Events // set by Run

	mu      sync.Mutex
	up      bool
	upCh    chan struct{} // closed while up
	downCh  chan struct{} // signalled when the database may be down
	scanned bool          // a rescan has completed since the start or the root changed
	rootErr error         // why the root cannot be opened; nil while it can
	rootGen int           // RootChanged calls so far
}

// New returns a Runner that reconciles with session and rescan, and holds
// the database with db.
func New(cfg Config, session SessionReconciler, rescan Rescanner, db Database) *Runner {
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = defaultRescanInterval
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = defaultCheckInterval
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = defaultStopGrace
	}
	r := &Runner{
		cfg:     cfg,
		log:     cfg.Log,
		queue:   watch.NewQueue(watch.QueueConfig{Quiet: cfg.Debounce, MaxDelay: cfg.MaxDelay}),
		session: session,
		rescan:  rescan,
		db:      db,
		trigger: make(chan string, 1),
		// The command connected and took the lock before New.
		up:     true,
		upCh:   make(chan struct{}),
		downCh: make(chan struct{}, 1),
	}
	close(r.upCh)
	r.metrics = newMetrics(r, cfg.Labels)
	r.found = &findingLog{log: cfg.Log, count: r.metrics.findings.WithLabelValues}
	r.metrics.unverified(r.found)
	return r
}

// Touched queues the session key for reconciling. For watch.Config.Touched.
func (r *Runner) Touched(key string) {
	r.queue.Add(key)
}

// Overflow asks for a rescan: the kernel dropped events. For
// watch.Config.Overflow.
func (r *Runner) Overflow() {
	r.metrics.overflows.Inc()
	r.log.Warn().Msg("the kernel's event queue overflowed; rescanning")
	r.requestRescan(reasonOverflow)
}

// Exhausted logs, once, that the watch budget is spent. For
// watch.Config.Exhausted.
func (r *Runner) Exhausted(budget int) {
	r.log.Warn().Int("max_watches", budget).
		Msg("watch budget spent: directories beyond it are left to rescans (raise --max-watches or fs.inotify.max_user_watches)")
}

// WatchError logs a directory that could not be watched. For
// watch.Config.OnError.
func (r *Runner) WatchError(rel string, err error) {
	r.log.Warn().Str("path", rel).Err(err).Msg("cannot watch")
}

// RootChanged hears that the root was replaced, unmounted or mounted
// over: with a nil err the watches were dropped and a rescan places them
// again on the new tree and reconciles it, with an error the root cannot
// be opened. Either way the Runner is not ready until a rescan of the root
// as it is now has completed. For watch.Config.RootChanged.
func (r *Runner) RootChanged(err error) {
	r.mu.Lock()
	r.rootErr = err
	r.scanned = false
	r.rootGen++
	r.mu.Unlock()
	if err != nil {
		r.log.Error().Err(err).Msg("the root cannot be opened: nothing is watched and the watcher is not ready until it can")
		return
	}
	r.log.Warn().Msg("the root was replaced, unmounted or mounted again: its watches were dropped; rescanning the new tree")
	r.requestRescan(reasonRoot)
}

// Ready reports whether the database is up, the root can be opened, and a
// rescan completed since the start or since the root last changed.
func (r *Runner) Ready() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.up:
		return false, "database unreachable or lock not held"
	case r.rootErr != nil:
		return false, "root unavailable: " + r.rootErr.Error()
	case !r.scanned:
		return false, "rescan of the root not done"
	}
	return true, "ready"
}

func (r *Runner) requestRescan(reason string) {
	select {
	case r.trigger <- reason:
	default: // one is pending already: it covers this one
	}
}

// Run watches events until ctx is done, then stops taking events, lets the
// reconcile or rescan in flight finish within Config.StopGrace (its write
// commits or rolls back, never half) and returns nil. It returns an error
// only when the event source fails.
func (r *Runner) Run(ctx context.Context, events Events) error {
	r.events = events
	r.metrics.watchStats(events.Stats)

	// stop ends the taking of work; work, what is in flight, outlives it
	// by the grace period.
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	context.AfterFunc(stop, func() {
		t := time.AfterFunc(r.cfg.StopGrace, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})

	evErr := make(chan error, 1)
	go func() { evErr <- events.Run(stop) }()

	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() { r.worker(stop, work) })
	}
	wg.Go(func() { r.rescans(stop, work) })
	wg.Go(func() { r.watchDatabase(stop) })

	r.requestRescan(reasonStart)
	var err error
	select {
	case <-stop.Done():
	case err = <-evErr:
		if err == nil {
			err = errors.New("watching stopped")
		}
		r.log.Error().Err(err).Msg("watching stopped")
	}
	cancelStop()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// worker reconciles keys as they come due.
func (r *Runner) worker(stop, work context.Context) {
	for {
		key, err := r.queue.Get(stop)
		if err != nil {
			return
		}
		r.reconcile(stop, work, key)
		r.queue.Done(key)
	}
}

func (r *Runner) reconcile(stop, work context.Context, key string) {
	if !r.waitUp(stop) {
		return
	}
	r.exclusive.RLock()
	defer r.exclusive.RUnlock()
	if stop.Err() != nil {
		return
	}
	res, err := r.session.Reconcile(work, key)
	if err != nil {
		r.metrics.reconcileErrors.Inc()
		if work.Err() != nil {
			return
		}
		r.log.Warn().Str("key", key).Err(err).Msg("reconcile failed; will retry")
		r.suspect()
		// Queued again, due after the quiet period (at Done: it is being
		// processed now); it waits while the database is down.
		r.queue.Add(key)
		return
	}
	r.metrics.reconciled.Inc()
	r.metrics.rowsWritten.Add(float64(res.RowsWritten))
	if e := r.log.Debug(); e.Enabled() {
		kinds := make([]string, 0, len(res.Findings))
		for _, f := range res.Findings {
			k := string(f.Kind)
			if f.SizeBytes != nil {
				k += fmt.Sprintf(" %d bytes", *f.SizeBytes)
			}
			if f.Detail != "" {
				k += ": " + f.Detail
			}
			kinds = append(kinds, k)
		}
		e.Str("key", key).Strs("outcomes", kinds).Int("rows_written", res.RowsWritten).Msg("reconciled")
	}
	r.found.session(key, res.Findings)
}

// rescans runs the rescans: on request and every RescanInterval.
func (r *Runner) rescans(stop, work context.Context) {
	ticker := time.NewTicker(r.cfg.RescanInterval)
	defer ticker.Stop()
	for {
		var reason string
		select {
		case <-stop.Done():
			return
		case reason = <-r.trigger:
		case <-ticker.C:
			reason = reasonInterval
		}
		if !r.waitUp(stop) {
			return
		}
		r.runRescan(stop, work, reason)
	}
}

func (r *Runner) runRescan(stop, work context.Context, reason string) {
	r.exclusive.Lock()
	defer r.exclusive.Unlock()
	if stop.Err() != nil {
		return
	}
	started := time.Now()
	r.mu.Lock()
	gen := r.rootGen
	r.mu.Unlock()
	r.log.Info().Str("reason", reason).Msg("rescan started")
	// Watches first: whatever changes after the rescan has read a
	// directory raises an event.
	if err := r.events.Resync(stop); err != nil {
		return
	}
	res, err := r.rescan.Rescan(work)
	elapsed := time.Since(started)
	r.metrics.rescans.WithLabelValues(reason).Inc()
	if err != nil {
		r.metrics.rescanFailures.Inc()
		if work.Err() != nil {
			return
		}
		r.log.Error().Err(err).Str("reason", reason).Msg("rescan failed")
		r.suspect()
		// When the database is down, its return brings a rescan; when it
		// is not, try again later.
		retry := min(r.cfg.RescanInterval, time.Minute)
		time.AfterFunc(retry, func() {
			if stop.Err() == nil {
				r.requestRescan(reasonRetry)
			}
		})
		return
	}
	r.metrics.lastRescan.Set(float64(started.UnixNano()) / 1e9)
	r.metrics.lastRescanDuration.Set(elapsed.Seconds())
	r.metrics.rowsWritten.Add(float64(res.RowsWritten))
	r.mu.Lock()
	// A rescan that began before the root changed read the old one.
	r.scanned = r.scanned || gen == r.rootGen
	r.mu.Unlock()
	r.found.all(res.Findings)
	r.log.Info().Str("reason", reason).Int("findings", len(res.Findings)).Int("rows_written", res.RowsWritten).
		Dur("duration", elapsed).Msg("rescan finished")
}

// suspect asks watchDatabase to check the database now.
func (r *Runner) suspect() {
	select {
	case r.downCh <- struct{}{}:
	default:
	}
}

// waitUp waits until the database is up, and reports false when stop came
// first.
func (r *Runner) waitUp(stop context.Context) bool {
	r.mu.Lock()
	ch := r.upCh
	r.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-stop.Done():
		return false
	}
}

func (r *Runner) setUp(up bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.up == up {
		return
	}
	r.up = up
	if up {
		close(r.upCh)
		r.metrics.dbUp.Set(1)
		r.log.Info().Msg("database reachable again, lock held; rescanning")
		return
	}
	r.upCh = make(chan struct{})
	r.metrics.dbUp.Set(0)
	r.log.Error().Err(err).Msg("database unreachable or lock lost: still watching, writes wait; retrying")
}

// watchDatabase checks the database every CheckInterval and when a
// reconcile failed, and while it is down tries to reconnect with backoff;
// when it is back, the scope is rescanned.
func (r *Runner) watchDatabase(stop context.Context) {
	ticker := time.NewTicker(r.cfg.CheckInterval)
	defer ticker.Stop()
	backoff := minBackoff
	for {
		r.mu.Lock()
		up := r.up
		r.mu.Unlock()
		if up {
			select {
			case <-stop.Done():
				return
			case <-ticker.C:
			case <-r.downCh:
			}
			if err := r.db.Check(stop); err != nil && stop.Err() == nil {
				r.setUp(false, err)
			}
			continue
		}
		select {
		case <-stop.Done():
			return
		case <-time.After(backoff):
		}
		if err := r.db.Reconnect(stop); err != nil {
			if stop.Err() != nil {
				return
			}
			r.log.Warn().Err(err).Dur("backoff", backoff).Msg("database still unreachable or lock not taken")
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		r.setUp(true, nil)
		r.requestRescan(reasonDatabase)
	}
}
