package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// TestWriteSizesLargeChunks checks the statements WriteSizes builds for
// chunks longer than one flat CASE (its CASEs are then search trees on id,
// or its chunks runs of ids) against checkWrites's model of what the guard
// allows.
func TestWriteSizesLargeChunks(t *testing.T) {
	const nrows = 300
	verifiedAt := time.Date(2025, 11, 23, 4, 5, 6, 0, time.UTC)
	path := func(id int) string { return fmt.Sprintf("/mnt/efs/workspace_%d/session_S%d", id%7, id) }
	ins, table := accounts(nrows, func(id int) int { return id % 7 }, path)

	// Every row once in a shuffled order, then ids again (some with a
	// stale or differently cased path), and ids of no row.
	rng := rand.New(rand.NewPCG(7, 7))
	var batch []db.SizeUpdate
	for _, id := range rng.Perm(nrows) {
		id++
		u := db.SizeUpdate{ID: uint64(id), StoragePath: path(id), SizeBytes: int64(id) * 1000}
		switch id % 11 {
		case 3:
			u.StoragePath = strings.ToLower(u.StoragePath) // differs only by case
		case 5:
			u.StoragePath += "-old"
		}
		batch = append(batch, u)
	}
	for i := range 80 {
		id := 1 + rng.IntN(nrows)
		u := db.SizeUpdate{ID: uint64(id), StoragePath: path(id), SizeBytes: int64(id)*1000 + int64(i) + 1}
		if i%4 == 0 {
			u.StoragePath += "-old"
		}
		batch = slices.Insert(batch, rng.IntN(len(batch)+1), u)
	}
	for i := range 20 {
		batch = slices.Insert(batch, rng.IntN(len(batch)+1), db.SizeUpdate{ID: uint64(nrows + 1 + i*13), StoragePath: path(i), SizeBytes: 1})
	}

	for _, batchSize := range []int{0, 1, 16, 17, 33, 64, 250, 1000} {
		t.Run(fmt.Sprintf("batch=%d", batchSize), func(t *testing.T) {
			checkWrites(t, ins, table, batch, batchSize, verifiedAt)
		})
	}
}

// accounts returns an INSERT of the rows of ids 1 to n, in the workspace
// and with the path the functions give, one in 23 soft-deleted, and what
// checkWrites's model knows of them.
func accounts(n int, workspace func(id int) int, path func(id int) string) (string, map[uint64]accountRow) {
	var ins strings.Builder
	ins.WriteString("INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, created_by, deleted_at) VALUES\n")
	table := make(map[uint64]accountRow)
	for id := 1; id <= n; id++ {
		deleted := "NULL"
		if id%23 == 0 {
			deleted = "'2025-11-01 00:00:00'"
		}
		sep := ","
		if id == n {
			sep = ";"
		}
		fmt.Fprintf(&ins, "\t(%d, 'u%d', %d, 's%d', '%s', 1, %s)%s\n", id, id, workspace(id), id, path(id), deleted, sep)
		table[uint64(id)] = accountRow{path(id), deleted == "NULL"}
	}
	return ins.String(), table
}

// accountRow is what checkWrites's model knows of a row of the table.
type accountRow struct {
	path string
	live bool
}

// checkWrites loads the rows of ins, whose paths and liveness table says,
// and checks that WriteSizes of batch in chunks of batchSize writes what
// the guard allows: chunks in order; in a chunk the first entry of an id
// wins; a row is written only while live and holding the very same path;
// every row matched is counted, also when an id comes back in a later
// chunk; no other row changes.
func checkWrites(t *testing.T, ins string, table map[uint64]accountRow, batch []db.SizeUpdate, batchSize int, verifiedAt time.Time) {
	t.Helper()
	// The model. The default batch size is larger than batch, which is
	// then one chunk.
	chunkLen := batchSize
	if chunkLen <= 0 {
		chunkLen = len(batch)
	}
	wantN, written := 0, make(map[uint64]int64)
	for chunk := range slices.Chunk(batch, chunkLen) {
		seen := make(map[uint64]bool)
		for _, u := range chunk {
			if seen[u.ID] {
				continue
			}
			seen[u.ID] = true
			if r, ok := table[u.ID]; ok && r.live && r.path == u.StoragePath {
				wantN++
				written[u.ID] = u.SizeBytes
			}
		}
	}

	dsn := newDB(t)
	dbtest.Exec(t, dsn, ins)
	s := open(t, db.Config{DSN: dsn, BatchSize: batchSize})
	before := snapshot(t, dsn)
	n, err := s.WriteSizes(context.Background(), batch, verifiedAt)
	if err != nil {
		t.Fatalf("WriteSizes: %v", err)
	}
	if n != wantN {
		t.Errorf("WriteSizes wrote %d rows, want %d", n, wantN)
	}
	assertWritten(t, before, snapshot(t, dsn), written, verifiedAt.Format(time.DateTime))
}

// TestWriteSizesGaps checks against checkWrites's model the statements of
// chunks whose ids leave out rows of the table, as an audit's do: one run
// with holes, several runs (a CASE tree picks each one's shift), runs split
// again at smaller holes to bound ELT's list, and ids too far apart for runs
// (a list). The rows left out are live and hold the paths of the table, so
// only the statement keeps them from being written.
func TestWriteSizesGaps(t *testing.T) {
	const nrows = 500
	verifiedAt := time.Date(2025, 11, 24, 5, 6, 7, 0, time.UTC)
	path := func(id int) string { return fmt.Sprintf("/mnt/efs/workspace_%d/session_G%d", id/50, id) }
	ins, table := accounts(nrows, func(id int) int { return id / 50 }, path)
	// blocks returns the ids of runs of n written ids separated by holes
	// of the given lengths in turn.
	blocks := func(n int, holes ...int) func(int) bool {
		keep := make(map[int]bool)
		for id, k := 1, 0; id <= nrows; k++ {
			for i := 0; i < n && id <= nrows; i++ {
				keep[id] = true
				id++
			}
			id += holes[k%len(holes)]
		}
		return func(id int) bool { return keep[id] }
	}
	patterns := []struct {
		name  string
		write func(id int) bool
	}{
		{"spread", func(id int) bool { return id%3 != 0 }},
		{"runs", blocks(20, 1, 3, 32, 33, 100)},
		{"one in four", func(id int) bool { return id%4 == 1 }},
		{"one in six", func(id int) bool { return id%6 == 1 }},
		{"runs split again", blocks(8, 31)},
	}
	for _, p := range patterns {
		var batch []db.SizeUpdate
		for id := 1; id <= nrows+40; id++ {
			if !p.write(id) {
				continue
			}
			u := db.SizeUpdate{ID: uint64(id), StoragePath: path(id), SizeBytes: int64(id) * 7}
			if id%11 == 5 {
				u.StoragePath += "-old"
			}
			batch = append(batch, u)
		}
		for _, batchSize := range []int{0, 64} {
			t.Run(fmt.Sprintf("%s/batch=%d", p.name, batchSize), func(t *testing.T) {
				checkWrites(t, ins, table, batch, batchSize, verifiedAt)
			})
		}
	}
}
