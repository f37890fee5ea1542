package main

import (
	"container/heap"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sessaudit/scanner"
	"strings"
	"time"
)

// Shape is a share's layout as the walk meets it: every directory below a
// session, with what listing it shows and what the walk then looks at.
type Shape struct {
	Dirs     []ShapeDir
	Sessions []int // the session directories, indexes in Dirs
	// RootEntries and MaxWorkspaceEntries are the listings made before
	// the first session can start: the root's, then a workspace's.
	RootEntries, MaxWorkspaceEntries int
}

// ShapeDir is one directory of a Shape.
type ShapeDir struct {
	Entries int   // entries its listing shows
	Stats   int   // entries the walk lstats: all but the subdirectories
	Subdirs []int // the subdirectories it descends into, indexes in Dirs
}

// readShape reads the layout of the share at root (workspace_*/session_*),
// never following a symbolic link.
func readShape(root string) (Shape, error) {
	var sh Shape
	var dir func(path string) (int, error)
	dir = func(path string) (int, error) {
		ents, err := os.ReadDir(path)
		if err != nil {
			return 0, fmt.Errorf("read dir %s: %w", path, err)
		}
		i := len(sh.Dirs)
		sh.Dirs = append(sh.Dirs, ShapeDir{Entries: len(ents)})
		var subs []int
		for _, e := range ents {
			if e.Type()&fs.ModeType != fs.ModeDir {
				continue
			}
			k, err := dir(filepath.Join(path, e.Name()))
			if err != nil {
				return 0, err
			}
			subs = append(subs, k)
		}
		sh.Dirs[i].Stats = len(ents) - len(subs)
		sh.Dirs[i].Subdirs = subs
		return i, nil
	}
	wss, err := os.ReadDir(root)
	if err != nil {
		return Shape{}, fmt.Errorf("read dir %s: %w", root, err)
	}
	sh.RootEntries = len(wss)
	for _, ws := range wss {
		if !ws.IsDir() || !strings.HasPrefix(ws.Name(), scanner.WorkspacePrefix) {
			continue
		}
		wsPath := filepath.Join(root, ws.Name())
		sessions, err := os.ReadDir(wsPath)
		if err != nil {
			return Shape{}, fmt.Errorf("read dir %s: %w", wsPath, err)
		}
		sh.MaxWorkspaceEntries = max(sh.MaxWorkspaceEntries, len(sessions))
		for _, s := range sessions {
			if !s.IsDir() || !strings.HasPrefix(s.Name(), scanner.SessionPrefix) {
				continue
			}
			k, err := dir(filepath.Join(wsPath, s.Name()))
			if err != nil {
				return Shape{}, err
			}
			sh.Sessions = append(sh.Sessions, k)
		}
	}
	return sh, nil
}

// Sim plays a walk of a Shape with the walker's rules for handing work to
// an idle slot (scanner's engine and native walk), each filesystem call
// taking the time measured for its kind on the mount:
//
//   - a session waits for a slot, and takes the first one that is freed;
//   - its holder opens each directory (one Stat), lists it Batch entries a
//     call (each entry List, one after the other: a listing is one chain),
//     and lstats the entries of each batch (Stat each) before it lists the
//     next batch;
//   - while a slot is idle, a holder with at least 2 × splitMin entries
//     of its batch left hands half of them over (the native walk splits
//     down to 256 bytes of entries, about 8; a coarser split here);
//   - after the last batch the holder descends into the subdirectories one
//     by one, handing each to an idle slot if there is one and walking it
//     itself otherwise.
//
// Every call needs CPU first (the client's, the kernel's and, on slowfs,
// the server's: StatCPU or ListCPU on one of Cores, in the order the calls
// are made), then waits for the rest of its latency. Where the cores are
// free a call takes Stat or List; where the calls in flight ask for more
// CPU than Cores give, they queue for it, as on this machine's 2 cores.
type Sim struct {
	Workers int
	// Stat and List are the latencies of one lstat (or open) and of one
	// entry of a listing while the cores keep up. They are measured with
	// Workers in flight: slowfs's sleeps overshoot more with more of them.
	Stat, List time.Duration
	// StatCPU and ListCPU are the CPU time they take, out of Stat and
	// List; 0 when CPU is never short.
	StatCPU, ListCPU time.Duration
	Cores            int
	Batch            int // entries a listing call returns
}

// splitMin is the fewest entries a holder hands over (the native walk's
// splitMin, 256 bytes of entries, is about 8).
const splitMin = 8

type simPhase uint8

const (
	phaseOpen    simPhase = iota
	phaseList             // start listing the next batch
	phaseListed           // the batch's entries come in, one call each
	phaseStat             // lstat what is pending
	phaseDescend          // descend into subs
)

// simFrame is a directory (or the part of one handed over) that a slot is
// walking.
type simFrame struct {
	dir    int
	phase  simPhase
	part   bool // handed over: lstats and subdirectories, no listing
	listed int  // entries listed so far
	// batch is what the listing call out returns: entries to lstat, and
	// subdirectories.
	batchStats int
	batchDirs  []int
	batchLeft  int // entries of the batch still to come
	// pend and pendDirs are the entries of the batch this frame holds and
	// has not yet passed: lstats to make, subdirectories to note.
	pend     int
	pendDirs []int
	subs     []int // subdirectories to descend into, in order
	next     int   // the next of subs
}

type simWorker struct {
	stack  []*simFrame
	until  time.Duration
	queued bool // a call of its is in the queue
}

// simQueue orders the busy workers by when their call returns.
type simQueue struct {
	ws  []*simWorker
	idx []int
}

func (q *simQueue) Len() int           { return len(q.idx) }
func (q *simQueue) Less(i, j int) bool { return q.ws[q.idx[i]].until < q.ws[q.idx[j]].until }
func (q *simQueue) Swap(i, j int)      { q.idx[i], q.idx[j] = q.idx[j], q.idx[i] }
func (q *simQueue) Push(x any) {
	q.ws[x.(int)].queued = true
	q.idx = append(q.idx, x.(int))
}
func (q *simQueue) Pop() any {
	n := len(q.idx) - 1
	x := q.idx[n]
	q.idx = q.idx[:n]
	q.ws[x].queued = false
	return x
}

// Run returns the simulated wall time of a walk of sh, and the calls it
// made, counted as Stat (lstats and opens) and List (entries listed).
func (s Sim) Run(sh Shape) (wall time.Duration, stats, listed int64, err error) {
	switch {
	case s.Workers <= 0 || s.Stat <= 0 || s.List < 0 || s.Batch <= 0:
		return 0, 0, 0, fmt.Errorf("%w: simulate: workers, stat latency and batch must be positive", errModel)
	case s.StatCPU < 0 || s.StatCPU > s.Stat || s.ListCPU < 0 || s.ListCPU > s.List:
		return 0, 0, 0, fmt.Errorf("%w: simulate: CPU time must be between 0 and the latency", errModel)
	case (s.StatCPU > 0 || s.ListCPU > 0) && s.Cores <= 0:
		return 0, 0, 0, fmt.Errorf("%w: simulate: cores must be positive", errModel)
	}
	ws := make([]*simWorker, s.Workers)
	for i := range ws {
		ws[i] = &simWorker{}
	}
	q := &simQueue{ws: ws}
	// The root and one workspace are listed before the first session.
	now := 2*s.Stat + time.Duration(sh.RootEntries+sh.MaxWorkspaceEntries)*s.List
	nextSession := 0
	cores := make([]time.Duration, max(s.Cores, 1))
	// call returns when a call made now of latency lat, cpu of it CPU, ends.
	call := func(lat, cpu time.Duration) time.Duration {
		if cpu == 0 {
			return now + lat
		}
		k := 0
		for j, free := range cores {
			if free < cores[k] {
				k = j
			}
		}
		start := max(now, cores[k])
		cores[k] = start + cpu
		return start + lat
	}
	idle := func() *simWorker {
		for _, w := range ws {
			if len(w.stack) == 0 {
				return w
			}
		}
		return nil
	}
	// step runs w's frames until it makes a call (and is queued) or has
	// nothing left.
	step := func(i int) {
		w := ws[i]
		for len(w.stack) > 0 {
			f := w.stack[len(w.stack)-1]
			d := sh.Dirs[f.dir]
			switch f.phase {
			case phaseOpen:
				f.phase = phaseList
				stats++
				w.until = call(s.Stat, s.StatCPU)
				heap.Push(q, i)
				return
			case phaseList:
				if f.listed == d.Entries {
					f.phase = phaseDescend
					continue
				}
				b := min(s.Batch, d.Entries-f.listed)
				// The batch's entries, spread evenly over the listing.
				at := func(n, of int) int { return n * of / d.Entries }
				f.batchStats = at(f.listed+b, d.Stats) - at(f.listed, d.Stats)
				f.batchDirs = d.Subdirs[at(f.listed, len(d.Subdirs)):at(f.listed+b, len(d.Subdirs))]
				f.listed += b
				f.batchLeft = b
				f.phase = phaseListed
				continue
			case phaseListed:
				// The entries of a listing come one after the other, each
				// with its round trip on slowfs.
				if f.batchLeft > 0 {
					f.batchLeft--
					listed++
					w.until = call(s.List, s.ListCPU)
					heap.Push(q, i)
					return
				}
				f.pend, f.pendDirs = f.batchStats, f.batchDirs
				f.phase = phaseStat
			case phaseStat:
				if f.pend == 0 {
					// The holder notes the subdirectories of its part of the
					// batch, and descends after the last batch; a part
					// descends into its own at once.
					f.subs = append(f.subs, f.pendDirs...)
					f.pendDirs = nil
					f.phase = phaseList
					if f.part {
						f.phase = phaseDescend
					}
					continue
				}
				f.pend--
				stats++
				w.until = call(s.Stat, s.StatCPU)
				heap.Push(q, i)
				return
			case phaseDescend:
				if f.next == len(f.subs) {
					w.stack = w.stack[:len(w.stack)-1]
					continue
				}
				sub := &simFrame{dir: f.subs[f.next]}
				f.next++
				if o := idle(); o != nil && o != w {
					// o starts when this loop hands it over.
					o.stack = append(o.stack, sub)
					continue
				}
				w.stack = append(w.stack, sub)
			}
		}
	}
	// start makes the first call of the workers step handed a
	// subdirectory to (which may hand over more), at once.
	start := func() {
		for again := true; again; {
			again = false
			for k, w := range ws {
				if len(w.stack) > 0 && !w.queued {
					step(k)
					again = true
				}
			}
		}
	}
	// assign gives idle workers work: a session first, else half of the
	// lstats a holder has left.
	assign := func() {
		for i, w := range ws {
			if len(w.stack) > 0 {
				continue
			}
			switch {
			case nextSession < len(sh.Sessions):
				w.stack = append(w.stack, &simFrame{dir: sh.Sessions[nextSession]})
				nextSession++
			default:
				var from *simFrame
				for _, o := range ws {
					if len(o.stack) == 0 {
						continue
					}
					top := o.stack[len(o.stack)-1]
					left := top.pend + len(top.pendDirs)
					if top.phase == phaseStat && left >= 2*splitMin && (from == nil || left > from.pend+len(from.pendDirs)) {
						from = top
					}
				}
				if from == nil {
					continue
				}
				half, halfDirs := from.pend/2, len(from.pendDirs)/2
				part := &simFrame{dir: from.dir, phase: phaseStat, part: true, pend: half, pendDirs: from.pendDirs[halfDirs:]}
				from.pend -= half
				from.pendDirs = from.pendDirs[:halfDirs:halfDirs]
				w.stack = append(w.stack, part)
			}
			step(i)
			start()
		}
	}
	assign()
	for q.Len() > 0 {
		i := heap.Pop(q).(int)
		now = max(now, ws[i].until)
		step(i)
		start()
		assign()
	}
	return now, stats, listed, nil
}
