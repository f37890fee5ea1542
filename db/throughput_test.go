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

// TestWriteSizesLargeChunks checks the statement WriteSizes builds for
// chunks longer than one flat CASE (its CASEs are then search trees on id)
// against a model of what the guard allows: chunks in order; in a chunk the
// first entry of an id wins; a row is written only while live and holding
// the very same path; every row matched is counted, also when an id comes
// back in a later chunk.
func TestWriteSizesLargeChunks(t *testing.T) {
	const nrows = 300
	verifiedAt := time.Date(2025, 11, 23, 4, 5, 6, 0, time.UTC)
	path := func(id int) string { return fmt.Sprintf("/mnt/efs/workspace_%d/session_S%d", id%7, id) }

	var ins strings.Builder
	ins.WriteString("INSERT INTO whatsapp_accounts (id, uuid, workspace_id, session_id, session_storage_path, created_by, deleted_at) VALUES\n")
	type row struct {
		path string
		live bool
	}
	table := make(map[uint64]row)
	for id := 1; id <= nrows; id++ {
		deleted := "NULL"
		if id%23 == 0 {
			deleted = "'2025-11-01 00:00:00'"
		}
		sep := ","
		if id == nrows {
			sep = ";"
		}
		fmt.Fprintf(&ins, "\t(%d, 'u%d', %d, 's%d', '%s', 1, %s)%s\n", id, id, id%7, id, path(id), deleted, sep)
		table[uint64(id)] = row{path(id), deleted == "NULL"}
	}

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
			// The model. The default batch size is larger than batch, which
			// is then one chunk.
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
			dbtest.Exec(t, dsn, ins.String())
			s := open(t, db.Config{DSN: dsn, BatchSize: batchSize})
			before := snapshot(t, dsn)
			n, err := s.WriteSizes(context.Background(), batch, verifiedAt)
			if err != nil {
				t.Fatalf("WriteSizes: %v", err)
			}
			if n != wantN {
				t.Errorf("WriteSizes wrote %d rows, want %d", n, wantN)
			}
			assertWritten(t, before, snapshot(t, dsn), written, "2025-11-23 04:05:06")
		})
	}
}
