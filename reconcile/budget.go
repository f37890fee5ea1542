package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
)

// Budget is what an audit under a time budget (Config.MaxDuration) sized,
// and how stale that left the rows.
type Budget struct {
	MaxDurationSeconds float64 `json:"max_duration_seconds"`
	// Listed counts the session directories listed; Sized those measured
	// in this run. The others were not: a directory a full run would have
	// verified is deferred, any other keeps its outcome without a size.
	Listed int `json:"listed"`
	Sized  int `json:"sized"`
	// Deferred counts the deferred directories.
	Deferred int `json:"deferred"`
	// StalestVerifiedAt is the oldest session_storage_verified_at among the
	// rows a full run would verify, once this run is done (a row verified
	// by this run counts as verified when it started); nil when there is
	// none. NeverVerified counts those rows still never verified.
	StalestVerifiedAt *time.Time `json:"stalest_verified_at"`
	NeverVerified     int        `json:"never_verified"`
}

// writeCostPerRow is what the audit reckons writing one verified row
// costs, when it decides how much of its budget to keep for the writes:
// 50,000 rows a second, below the slowest rate measured on loopback
// MariaDB (docs/performance.md).
const writeCostPerRow = 20 * time.Microsecond

// budgetPoll is how often, at most, the sizing looks at the clock when no
// session is finished meanwhile.
const budgetPoll = 50 * time.Millisecond

// deadline is when the sizing of a budgeted audit must stop so that what
// comes after it (looking again at what was sized, writing it, the report)
// ends within the budget. That tail grows with each session sized: stop
// returns the time to stop with n sized.
type deadline struct {
	end        time.Time     // the start plus the budget
	fixed      time.Duration // the tail whatever is sized
	perSession time.Duration // the tail added by each session sized
}

func (d deadline) stop(n int64) time.Time {
	return d.end.Add(-d.fixed - time.Duration(n)*d.perSession)
}

// walkBudgeted lists the scope and then measures its session directories
// stalest first (see sizingOrder) until the time to stop (see deadline).
// The directories not measured stay in the disk as listed (ListedOnly). An
// error means the audit could not be done, or was interrupted (ctx); a
// budget spent is not an error. The budget runs from started.
func (r *Reconciler) walkBudgeted(ctx context.Context, rows []db.Row, started time.Time) (*disk, *Budget, error) {
	d := newDisk()
	wcfg := r.cfg.Walk
	wcfg.Scope = r.cfg.Scope
	listStart := r.now()
	if err := scanner.List(ctx, r.fsys, r.cfg.Root, wcfg, d.add); err != nil {
		return d, nil, fmt.Errorf("list %s: %w", r.cfg.Root, err)
	}
	// Where each session listed is, so that its measurement takes its
	// place.
	index := make(map[string]*Observation, d.sessions.len())
	for o := range d.sessions.all() {
		index[o.Path] = o
	}
	order, missing := sizingOrder(r.cfg.PathPrefix, rows, index, r.cfg.BackfillPaths, started.Unix()/(24*60*60))
	b := &Budget{MaxDurationSeconds: r.cfg.MaxDuration.Seconds(), Listed: len(order)}
	// Reckon that looking at a session again costs four times what
	// listing took per session.
	var lookCost time.Duration
	if len(order) > 0 {
		lookCost = 4 * r.now().Sub(listStart) / time.Duration(len(order))
	}
	dl := deadline{
		end:        started.Add(r.cfg.MaxDuration),
		fixed:      r.cfg.MaxDuration/50 + time.Duration(missing)*lookCost,
		perSession: lookCost,
	}
	if !r.cfg.DryRun {
		dl.perSession += writeCostPerRow
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sized atomic.Int64
	spent := func() bool { return !r.now().Before(dl.stop(sized.Load())) }
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for !spent() {
			t := time.NewTimer(min(dl.stop(sized.Load()).Sub(r.now()), budgetPoll))
			select {
			case <-sctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		cancel()
	}()
	var err error
	if !spent() {
		err = scanner.MeasureEach(sctx, r.fsys, r.cfg.Root, order, wcfg, func(e scanner.Entry) error {
			d.mu.Lock()
			index[e.Path].at = seenOf(&e) // MeasureEach reports only paths of order
			d.tally.add(&e)
			d.mu.Unlock()
			if sized.Add(1); spent() {
				cancel()
			}
			return nil
		})
	}
	cancel()
	<-watched
	b.Sized = int(sized.Load())
	switch {
	case ctx.Err() != nil:
		return d, b, fmt.Errorf("measure %s: %w", r.cfg.Root, ctx.Err())
	case err != nil && sctx.Err() == nil:
		return d, b, fmt.Errorf("measure %s: %w", r.cfg.Root, err)
	}
	return d, b, nil
}

// sizingOrder returns the session directories listed in the order a budgeted
// audit sizes them, stalest first: first those whose row the run writes
// (one live row refers to it, and with its own workspace's path), by the
// session_storage_verified_at of that row, never verified first, ties by
// path; then the others, whose rows the run never writes, so that have no
// age to go by: those no live row refers to (orphans, soft-deleted ones),
// several do (a conflict), a row of another workspace does (a conflict) or
// a row with a NULL path does (unlinked; unless backfill, which writes
// it). Were they ordered by their rows' verification time, never written,
// they would come first every night and take the budget from the rows
// waiting longest. They are ordered on a ring by a hash of their path,
// starting each day (day, in days since 1970) at another point of it, so
// that a budget that sizes a part of them sizes other ones every day.
// It also counts the live rows whose directory was not listed: each is
// looked at again before it is called missing.
func sizingOrder(prefix string, rows []db.Row, listed map[string]*Observation, backfill bool, day int64) ([]string, int) {
	type stale struct {
		at      *time.Time // the oldest verification of its live rows; nil: never
		live    int        // live rows that refer to it
		unwrite bool       // a live row the run does not write refers to it
	}
	byPath := map[string]stale{}
	missing := 0
	for _, row := range rows {
		if !row.Live() {
			continue
		}
		p, v := refOf(prefix, row)
		if v != nil {
			continue
		}
		if _, found := listed[p]; !found {
			missing++
			continue
		}
		cur := byPath[p]
		if cur.live == 0 || cur.at != nil && (row.VerifiedAt == nil || row.VerifiedAt.Before(*cur.at)) {
			cur.at = row.VerifiedAt
		}
		cur.live++
		ws, _, _ := scanner.ParseSessionPath(p)
		if row.StoragePath == nil && !backfill || ws != row.WorkspaceID {
			cur.unwrite = true
		}
		byPath[p] = cur
	}
	written := func(s stale) bool { return s.live == 1 && !s.unwrite }
	var order []string
	for p, o := range listed {
		if o.at.kind == scanner.KindSession && o.at.err() == nil {
			order = append(order, p)
		}
	}
	// ring places a directory whose rows are not written on a ring by a
	// hash of its path. FNV leaves similar paths close: mix (MurmurHash3's
	// finalizer) so that they spread over it.
	ring := func(p string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(p))
		x := h.Sum64()
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		x *= 0xc4ceb9fe1a85ec53
		x ^= x >> 33
		return x
	}
	slices.SortFunc(order, func(a, b string) int {
		sa, sb := byPath[a], byPath[b]
		wa, wb := written(sa), written(sb)
		switch {
		case wa != wb:
			if wa {
				return -1
			}
			return 1
		case !wa:
			if c := cmp.Compare(ring(a), ring(b)); c != 0 {
				return c
			}
		case (sa.at == nil) != (sb.at == nil):
			if sa.at == nil {
				return -1
			}
			return 1
		case sa.at != nil:
			if c := sa.at.Compare(*sb.at); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	})
	rotate(order, slices.IndexFunc(order, func(p string) bool { return !written(byPath[p]) }), day)
	return order, missing
}

// rotate turns the directories whose rows are not written, order[from:],
// lying in ring order, so that each day starts at another place of the
// ring. The start moves by the golden ratio of the ring's length each day,
// counted in directories rather than in hash values: the starts of any n
// successive days then split the ring into pieces of at most two or three
// lengths, the longest at most 0.146 of it for n = 8, so that a budget that
// reaches a sixth of them a night sizes every one within eight nights,
// whichever day the nights start on.
func rotate(order []string, from int, day int64) {
	if from < 0 || len(order)-from < 2 {
		return
	}
	never := order[from:]
	const turn = 0x9E3779B97F4A7C15 // 2^64 / φ
	start, _ := bits.Mul64(uint64(day)*turn, uint64(len(never)))
	slices.Reverse(never[:start])
	slices.Reverse(never[start:])
	slices.Reverse(never)
}

// staleness fills in how stale the rows a full run would verify are once
// the run is done: those verified (and written) count as verified at
// started, the deferred ones keep what they hold.
func (b *Budget) staleness(verdicts *verdictSet, started time.Time, dryRun bool) {
	for v := range verdicts.all() {
		if v.Kind != Verified && v.Kind != Deferred {
			continue
		}
		if v.Kind == Deferred {
			b.Deferred++
		}
		for _, row := range v.Rows {
			if !row.Live() || row.StoragePath == nil {
				continue
			}
			at := row.VerifiedAt
			if v.Kind == Verified && !dryRun {
				at = &started
			}
			if at == nil {
				b.NeverVerified++
				continue
			}
			if b.StalestVerifiedAt == nil || at.Before(*b.StalestVerifiedAt) {
				t := *at
				b.StalestVerifiedAt = &t
			}
		}
	}
}
