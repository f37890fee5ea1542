package reconcile_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// clock is a fake time that only moves when the filesystem is used.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) tick() {
	c.mu.Lock()
	c.t = c.t.Add(time.Second)
	c.mu.Unlock()
}

// tickFs is a filesystem on which every open and every stat takes one
// second of the clock: a budget in seconds is a budget in operations,
// whatever the machine's speed.
type tickFs struct {
	afero.Fs
	c *clock
}

func (f tickFs) Open(name string) (afero.File, error) { f.c.tick(); return f.Fs.Open(name) }
func (f tickFs) OpenFile(name string, flag int, perm os.FileMode) (afero.File, error) {
	f.c.tick()
	return f.Fs.OpenFile(name, flag, perm)
}
func (f tickFs) Stat(name string) (os.FileInfo, error) { f.c.tick(); return f.Fs.Stat(name) }
func (f tickFs) LstatIfPossible(name string) (os.FileInfo, bool, error) {
	f.c.tick()
	return f.Fs.(afero.Lstater).LstatIfPossible(name)
}

// budgetShare is a share with every outcome and sessions whose rows were
// verified at different times, the oldest first in none of the usual
// orders (id, path). Each session has dirs more directories: sizing one
// costs about two filesystem operations per directory, listing it one.
func budgetShare(t *testing.T, sessions, dirs int) (afero.Fs, []db.Row) {
	t.Helper()
	fsys := afero.NewMemMapFs()
	files := map[string]string{
		"workspace_1/session_orphan/f":     "12",
		"workspace_1/session_orphan/d/e/f": "123",
		"workspace_2/session_softdel/f":    "1234",
		"workspace_2/session_unlinked/f":   "12345",
		"workspace_2/session_conflict/a/b": "123456",
		"lost+found/x":                     "",
		"workspace_1/session_link_standin": "a file where a session should be",
	}
	var rows []db.Row
	id := uint64(100)
	for i := range sessions {
		ws := uint64(1 + i%3)
		name := fmt.Sprintf("s%02d", i)
		rel := scanner.SessionPath(ws, name)
		// Three directories deep: sizing costs more than listing.
		files[rel+"/creds.json"] = strings.Repeat("x", i+1)
		files[rel+"/Default/Cache/data"] = "abc"
		files[rel+"/Default/Local Storage/leveldb/000003.log"] = "abcd"
		for d := range dirs {
			files[fmt.Sprintf("%s/Default/Service Worker/%d/index", rel, d)] = "i"
		}
		r := live(id, ws, name, str("/mnt/efs/"+rel))
		// A third never verified, the rest verified on days in an order
		// unrelated to the ids.
		if i%3 != 0 {
			at := longAgo.Add(time.Duration((i*7)%sessions) * 24 * time.Hour)
			r.VerifiedAt = &at
		}
		rows = append(rows, r)
		id++
	}
	writeTree(t, fsys, files)
	rows = append(rows,
		deleted(live(1, 2, "softdel", str("/mnt/efs/workspace_2/session_softdel"))),
		live(2, 2, "unlinked", nil),
		live(3, 2, "x", str("/mnt/efs/workspace_2/session_conflict")),
		live(4, 2, "y", str("/mnt/efs/workspace_2/session_conflict")),
		live(5, 1, "gone", str("/mnt/efs/workspace_1/session_gone")),
		live(6, 1, "bad", str("/mnt/efs/../etc")),
		live(7, 1, "link_standin", str("/mnt/efs/workspace_1/session_link_standin")),
	)
	return fsys, rows
}

// stalestFirst is the order the budgeted audit must size the sessions of
// rows in, worked out here independently: the directories of live rows,
// never verified first, then by verification time, then by path.
func stalestFirst(rows []db.Row) []string {
	type key struct {
		path string
		at   *time.Time
	}
	var keys []key
	for _, r := range rows {
		if r.Live() && r.StoragePath != nil && r.ID >= 100 {
			keys = append(keys, key{strings.TrimPrefix(*r.StoragePath, "/mnt/efs/"), r.VerifiedAt})
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		switch {
		case a.at == nil && b.at != nil:
			return -1
		case a.at != nil && b.at == nil:
			return 1
		case a.at != nil:
			if c := a.at.Compare(*b.at); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.path, b.path)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.path
	}
	return out
}

// budgetAudit audits fsys with store under a clock that moves one second
// per filesystem operation, with budget (0: none), and returns the report
// and how many seconds of that clock the audit took.
func budgetAudit(t *testing.T, fsys afero.Fs, store *fakeStore, c *clock, budget time.Duration) (*reconcile.Report, time.Duration) {
	t.Helper()
	start := c.Now()
	rep, err := reconcile.Audit(context.Background(), tickFs{fsys, c}, store, reconcile.Config{
		Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour, MaxMissingRatio: 1,
		MaxDuration: budget, Now: c.Now, Walk: scanner.Config{Workers: 1},
	})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return rep, c.Now().Sub(start)
}

// findingsWithoutSizes renders the findings as "kind path rows".
func findingsWithoutSizes(rep *reconcile.Report) []string { return outcomes(rep) }

// TestBudgetSizesStalestFirst: a budgeted audit sizes the sessions whose
// rows were verified longest ago (or never) first, leaves the rows of the
// others alone, and gives every directory and row the outcome an audit
// without a budget gives, but verified becomes deferred for the sessions it
// did not size.
func TestBudgetSizesStalestFirst(t *testing.T) {
	const sessions = 24
	fsys, rows := budgetShare(t, sessions, 0)
	c := &clock{t: time.Now().Add(48 * time.Hour)}
	full := &fakeStore{rows: slices.Clone(rows)}
	fullRep, took := budgetAudit(t, fsys, full, c, 0)
	if fullRep.Summary.Budget != nil {
		t.Errorf("an audit without a budget reports a budget: %+v", fullRep.Summary.Budget)
	}

	for _, share := range []float64{0, 0.5} {
		t.Run(fmt.Sprintf("budget %.0f%%", 100*share), func(t *testing.T) {
			store := &fakeStore{rows: slices.Clone(rows)}
			budget := time.Duration(share * float64(took))
			if budget == 0 {
				budget = time.Nanosecond
			}
			rep, _ := budgetAudit(t, fsys, store, c, budget)
			if !rep.Summary.Complete {
				t.Fatalf("a run stopped by its budget is incomplete: %s", rep.Summary.Error)
			}
			b := rep.Summary.Budget
			if b == nil {
				t.Fatal("no budget in the summary")
			}
			if got, want := findingsWithoutSizes(rep), findingsWithoutSizes(fullRep); !slices.Equal(got, want) {
				t.Errorf("findings differ from an audit without a budget:\n got %q\nwant %q", got, want)
			}
			for _, o := range reconcile.Outcomes() {
				got, want := rep.Summary.Outcomes[o], fullRep.Summary.Outcomes[o]
				switch o {
				case reconcile.Verified:
					got += rep.Summary.Outcomes[reconcile.Deferred]
				case reconcile.Deferred:
					continue
				}
				if got != want {
					t.Errorf("outcome %s: %d, want %d as without a budget", o, got, want)
				}
			}
			// Sized: a prefix of the stalest-first order, and only those
			// written; the rows of the others are untouched.
			order := stalestFirst(rows)
			written := map[string]bool{}
			for _, r := range rows {
				if _, ok := store.written[r.ID]; ok {
					written[strings.TrimPrefix(*r.StoragePath, "/mnt/efs/")] = true
				}
			}
			n := len(written)
			for i, p := range order {
				if written[p] != (i < n) {
					t.Fatalf("written %d rows, not the %d stalest: %v (order %q)", n, n, written, order)
				}
			}
			for id, size := range store.written {
				if full.written[id] != size {
					t.Errorf("row %d written %d, an audit without a budget wrote %d", id, size, full.written[id])
				}
			}
			if rep.Summary.Outcomes[reconcile.Verified] != n || rep.Summary.Outcomes[reconcile.Deferred] != sessions-n || b.Deferred != sessions-n {
				t.Errorf("verified %d, deferred %d (budget says %d), written %d of %d", rep.Summary.Outcomes[reconcile.Verified],
					rep.Summary.Outcomes[reconcile.Deferred], b.Deferred, n, sessions)
			}
			switch {
			case share == 0 && b.Sized != 0:
				t.Errorf("no time, yet %d sized", b.Sized)
			case share == 0.5 && (n == 0 || n == sessions):
				t.Errorf("half the time sized %d of %d sessions", n, sessions)
			}
			if b.Listed != len(order)+4 { // and the orphan, soft-deleted, unlinked and conflict ones
				t.Errorf("listed %d session directories, want %d", b.Listed, len(order)+4)
			}
			// Never verified rows come first: with some sized, fewer are
			// left never verified; the stalest verified left is the
			// oldest of the deferred rows.
			var stalest *time.Time
			never := 0
			for _, r := range rows {
				p := ""
				if r.StoragePath != nil {
					p = strings.TrimPrefix(*r.StoragePath, "/mnt/efs/")
				}
				if r.ID < 100 || written[p] {
					continue
				}
				if r.VerifiedAt == nil {
					never++
				} else if stalest == nil || r.VerifiedAt.Before(*stalest) {
					stalest = r.VerifiedAt
				}
			}
			if b.NeverVerified != never || (stalest == nil) != (b.StalestVerifiedAt == nil) || stalest != nil && !stalest.Equal(*b.StalestVerifiedAt) {
				t.Errorf("never verified %d, stalest %v; want %d, %v", b.NeverVerified, b.StalestVerifiedAt, never, stalest)
			}
		})
	}
}

// TestBudgetRotates: with a budget for about a quarter of the share, each
// night's run sizes the sessions verified longest ago, and four runs size
// every one of them.
func TestBudgetRotates(t *testing.T) {
	const sessions = 32
	fsys, rows := budgetShare(t, sessions, 64)
	for i := range rows {
		rows[i].VerifiedAt = nil
	}
	c := &clock{t: time.Now().Add(48 * time.Hour)}
	_, took := budgetAudit(t, fsys, &fakeStore{rows: slices.Clone(rows)}, c, 0)
	t.Logf("an audit without a budget takes %s", took)
	store := &fakeStore{rows: rows}
	sizedBy := map[uint64]int{}
	for night := 1; night <= 4; night++ {
		c.t = c.t.Add(24 * time.Hour)
		stalest := stalestFirst(store.rows)
		store.written = nil
		rep, _ := budgetAudit(t, fsys, store, c, took/3)
		b := rep.Summary.Budget
		n := len(store.written)
		t.Logf("night %d: sized %d, wrote %d of %d, deferred %d", night, b.Sized, n, sessions, b.Deferred)
		if n < sessions/4 && night < 4 {
			t.Errorf("night %d wrote %d rows, fewer than a quarter of %d", night, n, sessions)
		}
		for _, p := range stalest[:n] {
			for _, r := range store.rows {
				if r.StoragePath != nil && *r.StoragePath == "/mnt/efs/"+p {
					if _, ok := store.written[r.ID]; !ok {
						t.Errorf("night %d: %s was among the %d stalest but not written", night, p, n)
					}
					if sizedBy[r.ID] == 0 {
						sizedBy[r.ID] = night
					}
				}
			}
		}
	}
	for _, r := range store.rows {
		if r.ID >= 100 && sizedBy[r.ID] == 0 {
			t.Errorf("row %d never sized in four nights", r.ID)
		}
	}
}

// TestBudgetSizesNeverWrittenLast: the directories whose rows a run never
// writes (an unlinked row's, a conflict's) are sized after every directory
// whose row it writes, like the orphans: never verified, their rows would
// otherwise sort first every night and take the budget from the rows
// waiting longest, night after night.
func TestBudgetSizesNeverWrittenLast(t *testing.T) {
	const sessions = 24
	fsys, rows := budgetShare(t, sessions, 16)
	for i := range rows {
		if rows[i].ID >= 100 {
			at := longAgo.Add(time.Duration(i) * time.Hour)
			rows[i].VerifiedAt = &at
		}
	}
	c := &clock{t: time.Now().Add(48 * time.Hour)}
	_, took := budgetAudit(t, fsys, &fakeStore{rows: slices.Clone(rows)}, c, 0)
	for night := 1; night <= 3; night++ {
		c.t = c.t.Add(24 * time.Hour)
		store := &fakeStore{rows: slices.Clone(rows)}
		rep, _ := budgetAudit(t, fsys, store, c, took/3)
		if n := len(store.written); n == 0 || n >= sessions {
			t.Fatalf("night %d wrote %d of %d rows: the budget tests nothing", night, n, sessions)
		}
		for _, f := range rep.Findings {
			if (f.Kind == reconcile.Unlinked || f.Kind == reconcile.Conflict) && f.SizeBytes != nil {
				t.Errorf("night %d: %s %s was sized while %d of %d stale rows were left for later", night, f.Kind, f.Path, sessions-len(store.written), sessions)
			}
		}
	}
}

// TestBudgetRotatesTheNeverWritten: directories whose rows are never
// written (orphans here) have no verification time to rotate by; a budget
// that sizes a part of them each night sizes other ones each night, and
// every one of them within a few nights, rather than the same ones, first
// by path, every night. The ring turns once a day, so the property must hold
// whichever day the nights start on: the test starts on 60 successive days
// of a fixed calendar, never on today's.
func TestBudgetRotatesTheNeverWritten(t *testing.T) {
	const orphans, nights, startDays = 24, 8, 60
	fsys := afero.NewMemMapFs()
	files := map[string]string{}
	for i := range orphans {
		rel := scanner.SessionPath(uint64(1+i%3), fmt.Sprintf("o%02d", i))
		files[rel+"/creds.json"] = "x"
		for d := range 16 {
			files[fmt.Sprintf("%s/Default/%d/index", rel, d)] = "i"
		}
	}
	writeTree(t, fsys, files)
	// A fixed calendar, after the files' times: each audit on MemMapFs
	// stamps the directories it opens with the real time (afero's handles
	// opened with more flags than O_RDONLY may write, and set it on close).
	base := time.Date(2100, time.January, 1, 3, 0, 0, 0, time.UTC)
	for start := range startDays {
		c := &clock{t: base.AddDate(0, 0, start)}
		_, took := budgetAudit(t, fsys, &fakeStore{}, c, 0)
		sizedOn := map[string][]int{}
		var firsts []string
		for night := 1; night <= nights; night++ {
			c.t = c.t.Add(24 * time.Hour)
			rep, _ := budgetAudit(t, fsys, &fakeStore{}, c, took/3)
			var sized []string
			for _, f := range rep.Findings {
				if f.Kind == reconcile.Orphan && f.SizeBytes != nil {
					sized = append(sized, f.Path)
					sizedOn[f.Path] = append(sizedOn[f.Path], night)
				}
			}
			if len(sized) == 0 || len(sized) == orphans {
				t.Fatalf("start day %d, night %d sized %d of %d orphans: the budget tests nothing", start, night, len(sized), orphans)
			}
			slices.Sort(sized)
			firsts = append(firsts, strings.Join(sized, " "))
		}
		distinct := map[string]bool{}
		for _, f := range firsts {
			distinct[f] = true
		}
		if len(distinct) < nights/2 {
			t.Errorf("start day %d: the nights sized the same orphans again and again: %q", start, firsts)
		}
		for i := range orphans {
			rel := scanner.SessionPath(uint64(1+i%3), fmt.Sprintf("o%02d", i))
			if len(sizedOn[rel]) == 0 {
				t.Errorf("start day %d: %s not sized in %d nights; sized: %v", start, rel, nights, sizedOn)
			}
		}
	}
}
