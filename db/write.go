package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// WriteSizes writes the measured sizes of batch to session_file_size_bytes
// and verifiedAt to session_storage_verified_at, and touches no other column.
// A row is written only while it is live (deleted_at IS NULL, when the table
// has that column) and its session_storage_path still equals, byte for byte,
// the StoragePath the update carries; other rows are left alone and not
// counted.
//
// The batch is written in chunks of Config.BatchSize rows, each one UPDATE
// statement in its own transaction, so a row is either written whole or not
// at all. WriteSizes returns the number of rows written (matched by the
// guard, whether or not their values changed). When an id appears more than
// once in a chunk, its first entry wins.
//
// A chunk that fails with a lost connection, a lock wait timeout or a
// deadlock is written again, up to four attempts in all with pauses of 100ms,
// 200ms and 400ms (Config.OnRetry hears of each); retry.go says why that is
// safe. Any other error, the last attempt's error, or the end of ctx stops
// WriteSizes: it returns the rows of the chunks already committed with the
// error, and later chunks are not tried.
//
// While the Store holds a Lock, WriteSizes checks before each attempt that
// the lock is still held, and stops with an error matching ErrLockLost when
// it is not.
func (s *Store) WriteSizes(ctx context.Context, batch []SizeUpdate, verifiedAt time.Time) (written int, err error) {
	for chunk := range slices.Chunk(batch, s.batchSize) {
		q, args := s.updateStatement(chunk, verifiedAt)
		n, err := s.writeChunk(ctx, "sizes", len(chunk), q, args)
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// writeChunk runs the UPDATE q of one chunk of rows, which writes what
// (for messages: "sizes"), trying again as writeRetry allows. Errors are
// classified before the password is removed from them: removing it may cut
// the server's error out of the chain.
func (s *Store) writeChunk(ctx context.Context, what string, rows int, q string, args []any) (int, error) {
	var n int
	onRetry := func(err error, attempt int, wait time.Duration) {
		if s.onRetry != nil {
			s.onRetry(s.redact.errorf("%w", err), attempt, wait)
		}
	}
	attempts, err := writeRetry.do(ctx, func() error {
		if err := s.checkLocks(ctx); err != nil {
			return fmt.Errorf("update %s of %d rows of %s: %w", what, rows, s.table, err)
		}
		var err error
		n, err = s.writeChunkOnce(ctx, what, rows, q, args)
		return err
	}, onRetry)
	switch {
	case err == nil:
		return n, nil
	case attempts > 1:
		return 0, s.redact.errorf("%w (attempt %d of %d)", err, attempts, writeRetry.attempts)
	default:
		return 0, s.redact.errorf("%w", err)
	}
}

// writeChunkOnce runs the UPDATE of one chunk in one transaction, on a
// connection of its own: when the outcome of the transaction is unknown (the
// COMMIT or the ROLLBACK failed), the connection is closed rather than
// returned to the pool, where a transaction left open on the server would be
// committed by the next BEGIN.
func (s *Store) writeChunkOnce(ctx context.Context, what string, rows int, q string, args []any) (n int, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin update of %s of %s: %w", what, s.table, err)
	}
	clean := false
	defer func() {
		if clean {
			conn.Close()
		} else {
			discard(conn)
		}
	}()
	// READ COMMITTED, where the chunks may be ranges (Store.ranges): an
	// UPDATE of a range of ids then keeps locked only the rows it writes
	// and takes no gap locks, so it neither waits for the application's
	// writes to the other rows nor holds up its inserts.
	var opts *sql.TxOptions
	if s.ranges {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("begin update of %s of %s: %w", what, s.table, err)
	}
	n, err = execUpdate(ctx, tx, q, args)
	if err != nil {
		clean = tx.Rollback() == nil
		return 0, fmt.Errorf("update %s of %d rows of %s: %w", what, rows, s.table, err)
	}
	if err := tx.Commit(); err != nil {
		// The server may have committed before the connection broke; the
		// retry is safe all the same (see retry.go), but this connection's
		// state is unknown.
		return 0, fmt.Errorf("commit %s of %d rows of %s: %w", what, rows, s.table, err)
	}
	clean = true
	return n, nil
}

func execUpdate(ctx context.Context, tx *sql.Tx, q string, args []any) (int, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// caseLeaf is the most ids one CASE of the update statement lists; a chunk
// with more is split by id ranges (see updateStatement).
const caseLeaf = 16

// updateStatement builds the guarded UPDATE of one chunk:
//
//	UPDATE t SET session_file_size_bytes = <size by id>,
//	  session_storage_verified_at = ?
//	WHERE id IN (?, ...) AND deleted_at IS NULL
//	  AND BINARY session_storage_path = <path by id>
//
// BINARY makes the path comparison exact whatever the column's collation.
// The id list lets the server read the chunk's rows by primary key.
//
// "<x by id>" is a CASE on id. A flat CASE id WHEN ? THEN ? ... compares a
// row's id with the WHENs one by one, so a chunk of n rows costs the server
// n²/2 comparisons per CASE, more than the rest of the statement from a few
// hundred rows up. Instead the ids are sorted and the CASE is a search tree:
//
//	CASE WHEN id < ? THEN <lower half> ELSE <upper half> END
//
// down to flat CASEs of at most caseLeaf ids, about log2(n/caseLeaf) +
// caseLeaf/2 comparisons per row. The statement means exactly what the flat
// CASE did.
//
// When the server allows READ COMMITTED (Store.ranges), a chunk whose ids
// come in runs (a whole-table run's do; see runsOf) is written as ranges of
// ids, and each value is picked by its offset rather than by comparisons:
//
//	WHERE (id BETWEEN <first of run 1> AND <last of run 1> OR ...) ...
//	<x by id> = ELT(CAST(id AS SIGNED) - <shift of the row's run>,
//	  <x of the first id of run 1>, NULL, <x of the next id>, ...)
//
// The ranges read the rows in one pass each rather than looking up each
// id. ELT's list has a slot for every id of every run: a row's value, or
// NULL for an id of a run that is not in the chunk (a row the audit did not
// verify), which is then not written, since a comparison with NULL is never
// true. The shift maps an id to its slot: a number when there is one run, a
// search tree of CASEs on the runs' first ids otherwise. At 1,000,000 rows
// the range took the write phase of an audit from 9.6 to 6.5 s, and ELT for
// the CASE trees from 5.6 to 4.0 s (a statement of each kind, alternating,
// on the same table). The transaction reads committed data (see
// writeChunkOnce), so a row of a range that is not written is not kept
// locked.
func (s *Store) updateStatement(chunk []SizeUpdate, verifiedAt time.Time) (string, []any) {
	rows := uniqueByID(chunk)
	var rs []run
	if s.ranges {
		rs = runsOf(rows)
	}
	byID := (*statement).caseByID
	if rs != nil {
		byID = func(b *statement, rows []SizeUpdate, value func(SizeUpdate) any) { b.eltByRun(rows, rs, value) }
	}
	b := statement{args: make([]any, 0, 5*len(rows)+2*len(rows)/caseLeaf+3)}
	b.q.WriteString("UPDATE ")
	b.q.WriteString(s.quoted)
	b.q.WriteString(" SET session_file_size_bytes = ")
	byID(&b, rows, func(u SizeUpdate) any { return u.SizeBytes })
	b.q.WriteString(", session_storage_verified_at = ?")
	b.args = append(b.args, verifiedAt)
	if rs != nil {
		b.q.WriteString(" WHERE (")
		for i, r := range rs {
			if i > 0 {
				b.q.WriteString(" OR ")
			}
			b.q.WriteString("id BETWEEN ? AND ?")
			b.args = append(b.args, r.first, r.last)
		}
		b.q.WriteString(")")
		s.andLive(&b)
	} else {
		s.whereLive(&b, rows)
	}
	b.q.WriteString(" AND BINARY session_storage_path = ")
	byID(&b, rows, func(u SizeUpdate) any { return u.StoragePath })
	return b.q.String(), b.args
}

// What runsOf allows, from the server's time (MariaDB 10.11, a thread's CPU
// per row written, chunks of 1000): a row written costs about 5µs, an id of
// a range that is not written about 1-2.5µs (read, locked and let go, and a
// NULL of ELT's list), an id looked up from a list about 5µs more than one
// read in a range, and a run of its own about what a listed id costs plus a
// step of the shift's CASE tree in every row.
const (
	// maxHole is the most ids not written that a run passes over at
	// once; a longer gap ends the run.
	maxHole = 32
	// maxSlotsPerRow bounds ELT's list, the ids of all runs, per row
	// written. Past it the gaps within runs are smaller than maxHole.
	maxSlotsPerRow = 4
	// minRowsPerRun: chunks of several runs shorter than this on average
	// (a shard's, a few workspaces') are written as lists of ids.
	minRowsPerRun = 4
)

// run is a range of ids of a chunk, first to last, whose values are
// ELT's slots from slot on (0-based), one per id of the range.
type run struct {
	first, last uint64
	slot        int
}

// runsOf splits rows (sorted by id, each id once) into runs of ids, each
// passing over gaps of at most maxHole ids not written (or at most
// maxSlotsPerRow-1, when that keeps ELT's list within maxSlotsPerRow per
// row). It returns nil when rows are better written as a list of ids: when
// they make several runs shorter than minRowsPerRun on average, or an id is
// above 2⁶³-1 (ELT's index is a signed number).
func runsOf(rows []SizeUpdate) []run {
	if len(rows) == 0 || rows[len(rows)-1].ID > math.MaxInt64 {
		return nil
	}
	rs, slots := splitRuns(rows, maxHole)
	if slots > maxSlotsPerRow*len(rows) {
		rs, _ = splitRuns(rows, maxSlotsPerRow-1)
	}
	if len(rs) > 1 && len(rs)*minRowsPerRun > len(rows) {
		return nil
	}
	return rs
}

// splitRuns splits rows into runs at every gap of more than hole ids, and
// returns them with the number of ids they span.
func splitRuns(rows []SizeUpdate, hole uint64) (rs []run, slots int) {
	for i, u := range rows {
		if i == 0 || u.ID-rows[i-1].ID > hole+1 {
			rs = append(rs, run{first: u.ID, last: u.ID, slot: slots})
			slots++
			continue
		}
		slots += int(u.ID - rows[i-1].ID)
		rs[len(rs)-1].last = u.ID
	}
	return rs, slots
}

// eltByRun writes an expression worth value(u) in the row whose id is
// u.ID, for each u of rows, and NULL in any other row of the runs rs of
// rows (runsOf).
func (b *statement) eltByRun(rows []SizeUpdate, rs []run, value func(SizeUpdate) any) {
	b.q.WriteString("ELT(CAST(id AS SIGNED) - ")
	b.shiftByRun(rs)
	i := 0
	for _, r := range rs {
		for next := r.first; next <= r.last; next++ {
			if rows[i].ID != next {
				b.q.WriteString(", NULL")
				continue
			}
			b.q.WriteString(", ?")
			b.args = append(b.args, value(rows[i]))
			i++
		}
	}
	b.q.WriteString(")")
}

// shiftByRun writes an expression worth, in a row of a run r of rs, its id
// less its index in ELT's list: r.first - r.slot - 1.
func (b *statement) shiftByRun(rs []run) {
	if len(rs) == 1 {
		b.q.WriteString("?")
		b.args = append(b.args, int64(rs[0].first)-int64(rs[0].slot)-1)
		return
	}
	mid := len(rs) / 2
	b.q.WriteString("CASE WHEN id < ? THEN ")
	b.args = append(b.args, rs[mid].first)
	b.shiftByRun(rs[:mid])
	b.q.WriteString(" ELSE ")
	b.shiftByRun(rs[mid:])
	b.q.WriteString(" END")
}

// uniqueByID returns the updates of chunk sorted by id, keeping the first
// entry of an id that appears more than once.
func uniqueByID(chunk []SizeUpdate) []SizeUpdate {
	rows := slices.Clone(chunk)
	slices.SortStableFunc(rows, func(a, b SizeUpdate) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(rows, func(a, b SizeUpdate) bool { return a.ID == b.ID })
}

// statement is an SQL text being built with its arguments.
type statement struct {
	q    strings.Builder
	args []any
}

// whereLive writes the WHERE clause every guarded write starts with: the
// rows' ids, and that they are still live (when the table records it).
func (s *Store) whereLive(b *statement, rows []SizeUpdate) {
	b.q.WriteString(" WHERE id IN (")
	for i, u := range rows {
		if i > 0 {
			b.q.WriteString(",")
		}
		b.q.WriteString("?")
		b.args = append(b.args, u.ID)
	}
	b.q.WriteString(")")
	s.andLive(b)
}

// andLive adds to a WHERE clause that the rows are still live, when the
// table records it.
func (s *Store) andLive(b *statement) {
	if s.columns["deleted_at"] {
		b.q.WriteString(" AND deleted_at IS NULL")
	}
}

// caseByID writes an expression worth value(u) in the row whose id is u.ID,
// for each u of rows (sorted by id, each id once), and NULL in any other row.
func (b *statement) caseByID(rows []SizeUpdate, value func(SizeUpdate) any) {
	if len(rows) <= caseLeaf {
		b.q.WriteString("CASE id")
		for _, u := range rows {
			b.q.WriteString(" WHEN ? THEN ?")
			b.args = append(b.args, u.ID, value(u))
		}
		b.q.WriteString(" END")
		return
	}
	mid := len(rows) / 2
	b.q.WriteString("CASE WHEN id < ? THEN ")
	b.args = append(b.args, rows[mid].ID)
	b.caseByID(rows[:mid], value)
	b.q.WriteString(" ELSE ")
	b.caseByID(rows[mid:], value)
	b.q.WriteString(" END")
}
