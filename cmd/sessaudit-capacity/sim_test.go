package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// flat is a share of one session holding files entries and no directory.
func flat(files int) Shape {
	return Shape{
		Dirs:                []ShapeDir{{Entries: files, Stats: files}},
		Sessions:            []int{0},
		RootEntries:         1,
		MaxWorkspaceEntries: 1,
	}
}

func TestSimOneWorkerMakesEveryCallInTurn(t *testing.T) {
	s := Sim{Workers: 1, Stat: time.Millisecond, List: 100 * time.Microsecond, Batch: 30}
	wall, stats, listed, err := s.Run(flat(100))
	if err != nil {
		t.Fatal(err)
	}
	// The root and the workspace opened and listed (2 × 1 ms + 2 × 0.1 ms),
	// the session opened (1 ms), listed (100 × 0.1 ms) and its entries
	// lstatted (100 × 1 ms).
	if want := 113200 * time.Microsecond; wall != want {
		t.Errorf("wall = %v, want %v", wall, want)
	}
	if stats != 101 || listed != 100 {
		t.Errorf("calls: %d lstats and opens, %d listed; want 101 and 100", stats, listed)
	}
}

func TestSimIdleWorkersTakeHalfTheLstats(t *testing.T) {
	s := Sim{Workers: 100, Stat: time.Millisecond, List: 100 * time.Microsecond, Batch: 1000}
	wall, _, _, err := s.Run(flat(100))
	if err != nil {
		t.Fatal(err)
	}
	// Listed at 13.2 ms; then 100 lstats over parts of 8 to 15 entries.
	if lo, hi := 13200*time.Microsecond+8*time.Millisecond, 13200*time.Microsecond+16*time.Millisecond; wall < lo || wall > hi {
		t.Errorf("wall = %v, want between %v and %v", wall, lo, hi)
	}
}

func TestSimListingIsOneChain(t *testing.T) {
	// However many workers, a listing of 1000 entries at 1 ms each takes a
	// second, and a little more: the holder lstats its own part of each
	// batch (8 to 15 entries here) before it lists the next.
	s := Sim{Workers: 200, Stat: time.Millisecond, List: time.Millisecond, Batch: 100}
	wall, _, _, err := s.Run(flat(1000))
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := 1005*time.Millisecond+10*8*time.Millisecond, 1005*time.Millisecond+10*16*time.Millisecond; wall < lo || wall > hi {
		t.Errorf("wall = %v, want between %v and %v", wall, lo, hi)
	}
}

func TestSimCallsQueueForCPU(t *testing.T) {
	// 1000 lstats of 100 µs that are all CPU, on one core: 64 in flight
	// go no faster than one after the other.
	s := Sim{Workers: 64, Stat: 100 * time.Microsecond, StatCPU: 100 * time.Microsecond, List: time.Microsecond, Cores: 1, Batch: 1000}
	wall, _, _, err := s.Run(flat(1000))
	if err != nil {
		t.Fatal(err)
	}
	if wall < 100*time.Millisecond || wall > 103*time.Millisecond {
		t.Errorf("wall = %v, want about 100 ms", wall)
	}
	// With no CPU in the calls, the same walk is about 64 times faster.
	s.StatCPU = 0
	if wall, _, _, _ := s.Run(flat(1000)); wall > 10*time.Millisecond {
		t.Errorf("without CPU: wall = %v, want under 10 ms", wall)
	}
}

func TestSimDescendsIntoSubdirectories(t *testing.T) {
	// session (2 files, 2 subdirectories) → a (10 files), b (10 files).
	sh := Shape{
		Dirs: []ShapeDir{
			{Entries: 4, Stats: 2, Subdirs: []int{1, 2}},
			{Entries: 10, Stats: 10},
			{Entries: 10, Stats: 10},
		},
		Sessions: []int{0},
	}
	s := Sim{Workers: 1, Stat: time.Millisecond, List: time.Millisecond, Batch: 100}
	wall, stats, listed, err := s.Run(sh)
	if err != nil {
		t.Fatal(err)
	}
	// One worker: 2 opens before, 3 opens, 24 listed, 22 lstats.
	if want := 51 * time.Millisecond; wall != want || stats != 25 || listed != 24 {
		t.Errorf("got %v, %d lstats and opens, %d listed; want %v, 25, 24", wall, stats, listed, want)
	}
	// Two workers: a and b side by side after the session's listing.
	s.Workers = 2
	if wall, _, _, _ := s.Run(sh); wall >= 51*time.Millisecond || wall < 30*time.Millisecond {
		t.Errorf("two workers: wall = %v, want between 30 ms and 51 ms", wall)
	}
}

func TestSimRefusesBadInput(t *testing.T) {
	for _, s := range []Sim{
		{Workers: 0, Stat: time.Millisecond, Batch: 1},
		{Workers: 1, Stat: 0, Batch: 1},
		{Workers: 1, Stat: time.Millisecond, Batch: 0},
		{Workers: 1, Stat: time.Millisecond, StatCPU: 2 * time.Millisecond, Cores: 1, Batch: 1},
		{Workers: 1, Stat: time.Millisecond, StatCPU: time.Microsecond, Batch: 1},
	} {
		if _, _, _, err := s.Run(flat(1)); !errors.Is(err, errModel) {
			t.Errorf("%+v: err = %v, want errModel", s, err)
		}
	}
}

func TestReadShapeDoesNotFollowLinks(t *testing.T) {
	root := t.TempDir()
	sess := filepath.Join(root, "workspace_1", "session_2")
	if err := os.MkdirAll(filepath.Join(sess, "Default"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"creds.json", "Default/a", "Default/b"} {
		if err := os.WriteFile(filepath.Join(sess, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("Default", filepath.Join(sess, "link")); err != nil {
		t.Fatal(err)
	}
	sh, err := readShape(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.Sessions) != 1 || sh.RootEntries != 1 || sh.MaxWorkspaceEntries != 1 {
		t.Fatalf("shape %+v: want one session under one workspace", sh)
	}
	s := sh.Dirs[sh.Sessions[0]]
	// creds.json, Default and the link; the link is lstatted, not entered.
	if s.Entries != 3 || s.Stats != 2 || len(s.Subdirs) != 1 || sh.Dirs[s.Subdirs[0]].Entries != 2 {
		t.Errorf("session %+v (dirs %+v): want 3 entries, 2 lstats, Default of 2", s, sh.Dirs)
	}
}
