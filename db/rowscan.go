package db

import (
	"database/sql"
	"time"
)

// rowScanner turns the result rows of the SELECT of Store.rows into Rows.
// An audit reads every row of the table, a million of them on a large
// share, and holds them all: scanning each into fresh variables made ten
// allocations a row (the Scan destinations escape, and every pointer field
// of Row was a separate object), 860 bytes a row in all. rowScanner scans
// into destinations it reuses and hands out the times, stored paths and
// instance indexes a Row points to from blocks of blockRows, so a row costs
// its two strings and a share of four blocks.
type rowScanner struct {
	r                             Row
	sessionID, path               sql.NullString
	verified                      sql.NullTime
	deletedAt, createdAt, updated sql.NullTime
	instance                      sql.NullInt64
	dest                          []any

	times []time.Time
	paths []string
	ints  []int
}

// blockRows is the number of values in each block of a rowScanner: large
// enough that blocks cost nothing per row, small enough that a small table
// does not pay for a large block.
const blockRows = 1024

func newRowScanner() *rowScanner {
	s := &rowScanner{}
	// The order of the last four follows optionalColumns.
	s.dest = []any{&s.r.ID, &s.r.WorkspaceID, &s.sessionID, &s.path, &s.verified, &s.deletedAt, &s.createdAt, &s.updated, &s.instance}
	return s
}

// scan reads the current row of rs.
func (s *rowScanner) scan(rs *sql.Rows) (Row, error) {
	s.r = Row{}
	if err := rs.Scan(s.dest...); err != nil {
		return Row{}, err
	}
	r := s.r
	r.SessionID = s.sessionID.String
	if s.path.Valid {
		r.StoragePath = s.str(s.path.String)
	}
	r.VerifiedAt = s.time(s.verified)
	r.DeletedAt = s.time(s.deletedAt)
	r.CreatedAt = s.time(s.createdAt)
	r.UpdatedAt = s.time(s.updated)
	if s.instance.Valid {
		r.InstanceIndex = s.int(int(s.instance.Int64))
	}
	return r, nil
}

func (s *rowScanner) time(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	if len(s.times) == cap(s.times) {
		s.times = make([]time.Time, 0, blockRows)
	}
	s.times = append(s.times, t.Time)
	return &s.times[len(s.times)-1]
}

func (s *rowScanner) str(v string) *string {
	if len(s.paths) == cap(s.paths) {
		s.paths = make([]string, 0, blockRows)
	}
	s.paths = append(s.paths, v)
	return &s.paths[len(s.paths)-1]
}

func (s *rowScanner) int(v int) *int {
	if len(s.ints) == cap(s.ints) {
		s.ints = make([]int, 0, blockRows)
	}
	s.ints = append(s.ints, v)
	return &s.ints[len(s.ints)-1]
}
