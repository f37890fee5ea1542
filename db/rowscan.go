package db

import (
	"database/sql"
	"time"

	"sessaudit/scanner"
)

// rowScanner turns the result rows of the SELECT of Store.rows into Rows.
// An audit reads every row of the table, a million of them on a large
// share, and holds them all: scanning each into fresh variables made ten
// allocations a row (the Scan destinations escape, and every pointer field
// of Row was a separate object), 860 bytes a row in all. rowScanner scans
// into destinations it reuses and hands out the times, stored paths and
// instance indexes a Row points to from blocks of blockRows, so a row costs
// its stored path and a share of a block.
//
// Rows share what they point to when it is the same value: a time equal to
// one of the last few handed out (a row's created_at and updated_at are
// often the same time, and every row an audit verified holds the same
// session_storage_verified_at), the same instance index, and a session id
// that ends the row's own stored path (".../session_<id>", as the
// application writes them). That saved 80 bytes a row of a million-row
// audit. Nothing writes through a Row's pointers: a row read is a value.
type rowScanner struct {
	r         Row
	sessionID sql.RawBytes
	path      sql.NullString
	verified  sql.NullTime
	deletedAt sql.NullTime
	createdAt sql.NullTime
	updated   sql.NullTime
	instance  sql.NullInt64
	status    sql.RawBytes
	provider  sql.RawBytes
	dest      []any
	recent    [recentTimes]*time.Time // times handed out lately
	used      [recentTimes]uint64     // when each of recent was last handed out
	tick      uint64
	instances [smallInstances]*int // the instance indexes handed out
	statuses  map[string]*string   // the statuses handed out: an ENUM's few values

	times []time.Time
	paths []string
	ints  []int
}

// blockRows is the number of values in each block of a rowScanner: large
// enough that blocks cost nothing per row, small enough that a small table
// does not pay for a large block.
const blockRows = 1024

// recentTimes is how many of the times handed out lately a rowScanner
// looks among before it hands out a new one: a row's four. The one handed
// out least lately makes room for a new one, so that a time most rows hold
// (a verification time) stays while their creation times come and go.
const recentTimes = 4

// smallInstances bounds the instance indexes a rowScanner shares: the
// instances of a deployment are counted in tens.
const smallInstances = 256

func newRowScanner() *rowScanner {
	s := &rowScanner{}
	// The order of the last six follows optionalColumns.
	s.dest = []any{&s.r.ID, &s.r.WorkspaceID, &s.sessionID, &s.path, &s.verified, &s.deletedAt, &s.createdAt, &s.updated, &s.instance, &s.status, &s.provider}
	s.statuses = map[string]*string{}
	return s
}

// scan reads the current row of rs.
func (s *rowScanner) scan(rs *sql.Rows) (Row, error) {
	s.r = Row{}
	if err := rs.Scan(s.dest...); err != nil {
		return Row{}, err
	}
	r := s.r
	if s.path.Valid {
		r.StoragePath = s.str(s.path.String)
	}
	r.SessionID = s.session(s.path)
	r.VerifiedAt = s.time(s.verified)
	r.DeletedAt = s.time(s.deletedAt)
	r.CreatedAt = s.time(s.createdAt)
	r.UpdatedAt = s.time(s.updated)
	if s.instance.Valid {
		r.InstanceIndex = s.int(int(s.instance.Int64))
	}
	if len(s.status) > 0 {
		r.Status = s.statusOf(s.status)
	}
	if len(s.provider) > 0 {
		r.ProviderType = s.statusOf(s.provider)
	}
	return r, nil
}

// statusOf returns the status (or provider type) b, shared by every row
// that has it: a status column is an ENUM of five values, provider_type
// one of two, and a million rows hold no more.
func (s *rowScanner) statusOf(b []byte) *string {
	if p, ok := s.statuses[string(b)]; ok {
		return p
	}
	v := string(b)
	s.statuses[v] = &v
	return &v
}

// session returns the session id just scanned: the end of the stored path
// p when p ends in "/session_<id>", else a string of its own.
func (s *rowScanner) session(p sql.NullString) string {
	id := s.sessionID
	const sep = "/" + scanner.SessionPrefix
	if n := len(p.String) - len(id); p.Valid && len(id) > 0 && n >= len(sep) &&
		p.String[n:] == string(id) && p.String[n-len(sep):n] == sep {
		return p.String[n:]
	}
	return string(id)
}

func (s *rowScanner) time(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	s.tick++
	oldest := 0
	for i, p := range s.recent {
		// ==, not Equal: a row shares only an identical value.
		if p != nil && *p == t.Time {
			s.used[i] = s.tick
			return p
		}
		if s.used[i] < s.used[oldest] {
			oldest = i
		}
	}
	if len(s.times) == cap(s.times) {
		s.times = make([]time.Time, 0, blockRows)
	}
	s.times = append(s.times, t.Time)
	p := &s.times[len(s.times)-1]
	s.recent[oldest], s.used[oldest] = p, s.tick
	return p
}

func (s *rowScanner) str(v string) *string {
	if len(s.paths) == cap(s.paths) {
		s.paths = make([]string, 0, blockRows)
	}
	s.paths = append(s.paths, v)
	return &s.paths[len(s.paths)-1]
}

func (s *rowScanner) int(v int) *int {
	small := v >= 0 && v < smallInstances
	if small && s.instances[v] != nil {
		return s.instances[v]
	}
	if len(s.ints) == cap(s.ints) {
		s.ints = make([]int, 0, blockRows)
	}
	s.ints = append(s.ints, v)
	p := &s.ints[len(s.ints)-1]
	if small {
		s.instances[v] = p
	}
	return p
}
