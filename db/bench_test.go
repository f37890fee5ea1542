package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// Environment of BenchmarkWriteSizes.
const (
	// envBenchRows is the number of rows in the table; default 100000 on
	// a real server, 2000 on the embedded one (see BenchmarkWriteSizes).
	envBenchRows = "SESSAUDIT_BENCH_ROWS"
	// envBenchBatch is a comma-separated list of Config.BatchSize values to
	// run, each as a sub-benchmark; default "0", the Store's default.
	envBenchBatch = "SESSAUDIT_BENCH_BATCH"
	// envBenchGaps is a comma-separated list of the gap patterns (see
	// gapPatterns) whose rows are written, each as a sub-benchmark;
	// default "dense".
	envBenchGaps = "SESSAUDIT_BENCH_GAPS"
)

// gapPatterns are the ways the verified ids of an audit leave out rows of
// the table (soft-deleted accounts, Cloud API accounts with no session
// files, missing, young and unreadable sessions), as gapped(pattern, n)
// draws them. spread leaves out single ids, clustered runs of 200 on
// average; the number is the share of ids left out, in percent.
var gapPatterns = map[string]struct {
	// skipped is the share of ids left out; run the mean length of a run
	// of left-out ids.
	skipped, run float64
}{
	"dense":       {0, 1},
	"spread20":    {0.2, 1},
	"spread50":    {0.5, 1},
	"clustered20": {0.2, 200},
	"clustered50": {0.5, 200},
}

// gapped returns which of the ids 1..n pattern writes: runs of written
// ids and of left-out ids alternate, their lengths drawn from geometric
// distributions whose means give pattern's share and run length.
// keep[id-1] says whether id is written.
func gapped(pattern string, n int) []bool {
	p := gapPatterns[pattern]
	keep := make([]bool, n)
	if p.skipped == 0 {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	rng := rand.New(rand.NewPCG(3, uint64(p.skipped*100)))
	// Mean run of written ids, so that skipped = run / (run + written);
	// runs of left-out ids are longer when that would be under one.
	run, written := p.run, p.run*(1-p.skipped)/p.skipped
	if written < 1 {
		run, written = p.skipped/(1-p.skipped), 1
	}
	// geometric draws a length >= 1 of mean m.
	geometric := func(m float64) int {
		if m <= 1 {
			return 1
		}
		return 1 + int(math.Floor(math.Log(1-rng.Float64())/math.Log(1-1/m)))
	}
	for i := 0; i < n; {
		for k := geometric(written); k > 0 && i < n; k-- {
			keep[i] = true
			i++
		}
		i += geometric(run)
	}
	return keep
}

// BenchmarkWriteSizes times Store.WriteSizes of the rows of a table of
// SESSAUDIT_BENCH_ROWS realistic accounts that an audit would write, on the
// server of SESSAUDIT_TEST_MYSQL_DSN or, when unset, the embedded one. The
// updates carry the paths Store.Rows read, as the audit's do, so the guards
// match; one row in a hundred is soft-deleted and left alone by the guard.
// Which rows are written is a gap pattern of SESSAUDIT_BENCH_GAPS: every
// row ("dense"), or all but those the pattern leaves out, which stay live
// with their paths, so that only the statement keeps them from being
// written. The metric is rows/s: rows of the batch handed to WriteSizes per
// second.
//
// The table has 100000 rows by default on a real server, but 2000 on the
// embedded one: its in-memory tables re-sort the whole table after each
// UPDATE, fixing up every secondary index entry at each swap, so a write
// there costs more the larger the table (about 300 rows/s at 2000 rows) and
// 100000 rows would take hours. Its figure checks that the benchmark runs;
// it says nothing of a real server.
//
// The sub-benchmarks are the batch sizes of SESSAUDIT_BENCH_BATCH and the
// gap patterns, each without a Lock ("nolock") and with one held ("lock"),
// as the audit does, which adds the lock check of each chunk. Run it once
// per measurement:
//
//	SESSAUDIT_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test' \
//	  go test -run '^$' -bench '^BenchmarkWriteSizes$' -benchtime 1x -count 3 ./db/
//
// or .ci/bench-db, which runs both backends and prints the medians.
func BenchmarkWriteSizes(b *testing.B) {
	defRows := 100000
	if dbtest.Backend() == "embedded" {
		defRows = 2000
	}
	nrows := envInt(b, envBenchRows, defRows)
	var batchSizes []int
	for _, f := range strings.Split(envOr(envBenchBatch, "0"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("%s: %q is not a number", envBenchBatch, f)
		}
		batchSizes = append(batchSizes, n)
	}

	var patterns []string
	for _, f := range strings.Split(envOr(envBenchGaps, "dense"), ",") {
		f = strings.TrimSpace(f)
		if _, ok := gapPatterns[f]; !ok {
			b.Fatalf("%s: %q is not a gap pattern (%s)", envBenchGaps, f, strings.Join(slices.Sorted(maps.Keys(gapPatterns)), ", "))
		}
		patterns = append(patterns, f)
	}

	dsn := dbtest.New(b)
	dbtest.LoadSchema(b, dsn)
	live := seedAccounts(b, dsn, nrows)
	b.Logf("%s: %d rows, %d live", dbtest.Backend(), nrows, live)

	// iter makes every timed write set new values, so that the server has
	// real changes to write rather than rows that already hold them.
	iter := 0
	for _, bs := range batchSizes {
		name := "batch=default"
		if bs > 0 {
			name = fmt.Sprintf("batch=%d", bs)
		}
		for _, pattern := range patterns {
			for _, withLock := range []bool{false, true} {
				sub := name + "/" + pattern + "/nolock"
				if withLock {
					sub = name + "/" + pattern + "/lock"
				}
				b.Run(sub, func(b *testing.B) {
					benchWrite(b, dsn, bs, pattern, withLock, &iter)
				})
			}
		}
	}
}

// benchWrite times WriteSizes of the rows of pattern in the table at dsn,
// with Config.BatchSize bs, holding a Lock when withLock.
func benchWrite(b *testing.B, dsn string, bs int, pattern string, withLock bool, iter *int) {
	ctx := context.Background()
	s, err := db.Open(ctx, db.Config{DSN: dsn, BatchSize: bs})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if withLock {
		l, err := s.Lock(ctx, "all")
		if err != nil {
			b.Fatalf("Lock: %v", err)
		}
		defer l.Release(ctx)
	}
	rows, err := s.Rows(ctx, db.Selection{})
	if err != nil {
		b.Fatalf("Rows: %v", err)
	}
	keep := gapped(pattern, len(rows))
	batch := make([]db.SizeUpdate, 0, len(rows))
	live := 0
	for i, r := range rows {
		if !keep[i] {
			continue
		}
		batch = append(batch, db.SizeUpdate{ID: r.ID, StoragePath: *r.StoragePath})
		if r.Live() {
			live++
		}
	}
	rng := rand.New(rand.NewPCG(2, uint64(bs)))
	var total int
	for b.Loop() {
		b.StopTimer()
		*iter++
		for i := range batch {
			batch[i].SizeBytes = sessionSize(rng) + int64(*iter)
		}
		verifiedAt := time.Date(2025, 11, 21, 8, 0, 0, 0, time.UTC).Add(time.Duration(*iter) * time.Second)
		b.StartTimer()
		n, err := s.WriteSizes(ctx, batch, verifiedAt)
		if err != nil {
			b.Fatalf("WriteSizes: %v", err)
		}
		if n != live {
			b.Fatalf("WriteSizes wrote %d rows, want the %d live ones", n, live)
		}
		total += len(batch)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// seedAccounts inserts n accounts with every column set as the application
// sets it (session_data left NULL), in multi-row INSERTs of one transaction,
// and returns the number of live ones.
func seedAccounts(b *testing.B, dsn string, n int) (live int) {
	b.Helper()
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	mc.InterpolateParams = true // one round trip per INSERT
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		b.Fatal(err)
	}
	sdb := sql.OpenDB(conn)
	defer sdb.Close()
	ctx := context.Background()
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()

	const cols = `id, uuid, workspace_id, assigned_instance_index, previous_instance_index, assigned_instance_url,
	session_id, phone_number, provider_type, status, qr_code, session_data,
	session_storage_path, session_file_size_bytes, session_storage_verified_at,
	is_primary, is_active, last_activity_at, last_connected_at, disconnected_at, disconnect_reason, disconnect_details,
	last_cleanup_at, session_restore_count, instance_migration_count, last_instance_migration_at, health_score, metadata,
	created_by, created_at, updated_at, deleted_at`
	const ncols = 32
	const perInsert = 500
	placeholder := "(" + strings.Repeat("?,", ncols-1) + "?)"
	rng := rand.New(rand.NewPCG(1, 1))
	statuses := []string{"connected", "connected", "connected", "authenticated", "disconnected", "qr_scanning", "failed"}
	reasons := []string{"user_initiated", "instance_restart", "timeout", "error", "qr_expired", "unknown"}
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(maxDays int) time.Time {
		return base.Add(time.Duration(rng.Int64N(int64(maxDays) * 24 * int64(time.Hour)))).Truncate(time.Second)
	}
	for start := 1; start <= n; start += perInsert {
		end := min(start+perInsert-1, n)
		var q strings.Builder
		q.WriteString("INSERT INTO whatsapp_accounts (" + cols + ") VALUES ")
		args := make([]any, 0, (end-start+1)*ncols)
		for id := start; id <= end; id++ {
			if id > start {
				q.WriteString(",")
			}
			q.WriteString(placeholder)
			ws := 1 + (id-1)/4 // four sessions per workspace
			inst := ws % 6
			sid := fmt.Sprintf("ws%d_%016x", ws, rng.Uint64())
			status := statuses[rng.IntN(len(statuses))]
			var disconnectedAt, reason, details any
			if status == "disconnected" || status == "failed" {
				disconnectedAt = at(150)
				r := reasons[rng.IntN(len(reasons))]
				reason, details = r, "instance "+strconv.Itoa(inst)+": "+r
			}
			var deletedAt any
			if id%100 == 0 {
				deletedAt = at(170)
			} else {
				live++
			}
			created := at(100)
			args = append(args,
				id, fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff),
				ws, inst, nil, fmt.Sprintf("http://whatsapp-%d.internal:3001", inst),
				sid, fmt.Sprintf("+62%010d", rng.Int64N(1e10)), "webjs", status, nil, nil,
				fmt.Sprintf("/mnt/efs/workspace_%d/session_%s", ws, sid), 4096, at(170),
				id%4 == 1, status != "failed", at(170), at(170), disconnectedAt, reason, details,
				at(170), rng.IntN(5), rng.IntN(3), nil, 50+rng.IntN(51), fmt.Sprintf(`{"browser":"chrome","restore":%d}`, rng.IntN(5)),
				1+rng.IntN(50), created, created.Add(time.Duration(rng.IntN(72))*time.Hour), deletedAt,
			)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			b.Fatalf("insert rows %d-%d: %v", start, end, err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return live
}

// sessionSize draws a plausible size of a session directory: most are a few
// MiB (Baileys folders, young Chromium profiles), some hundreds of MiB.
func sessionSize(rng *rand.Rand) int64 {
	if rng.IntN(10) < 3 {
		return 64<<10 + rng.Int64N(2<<20)
	}
	return 8<<20 + rng.Int64N(400<<20)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s: %q is not a positive number", name, v)
	}
	return n
}
