package db

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config says where the accounts table is and how to talk to it. Only DSN is
// required.
type Config struct {
	// DSN is a go-sql-driver/mysql DSN, e.g. user:pass@tcp(host:3306)/dbname.
	// Open overrides its parseTime, loc, clientFoundRows and, when longer
	// than ConnectTimeout, timeout settings, and its readTimeout and
	// writeTimeout (with Timeout).
	DSN string
	// Table is the accounts table, optionally qualified by one schema name
	// ("schema.table"); default "whatsapp_accounts".
	Table string
	// TimeZone is the zone of the wall times the table holds: the zone the
	// application writes them in (its app.timezone); nil means UTC.
	// Timestamps read are taken to be in it and verification times are
	// written in it.
	TimeZone *time.Location
	// SessionTimeZone, when not empty, is set as time_zone on every
	// connection: "+05:00", "SYSTEM", or a name the server's time zone
	// tables know. The server converts TIMESTAMP columns with it, so it must
	// be the application's own: empty (the server's default) unless the
	// application's database configuration sets one.
	SessionTimeZone string
	// ConnectTimeout bounds the whole of Open (dial, login, ping and schema
	// discovery); <= 0 means 30s.
	ConnectTimeout time.Duration
	// Timeout bounds every wait of every call for the server: to say
	// something in answer (a row, a result) or to take what is sent. A
	// server that stopped answering (stopped with SIGSTOP, or cut off by a
	// network that drops packets without a reset) fails the call after
	// Timeout with an error matching ErrNoAnswer, instead of holding it for
	// ever; its connection is given up, as any lost one. It is a limit on
	// silence, not on a call's length: a million rows streaming for a
	// minute are fine. A statement the server keeps quiet on for longer (an
	// UPDATE waiting for the application's row locks) fails the same way,
	// and a chunk of WriteSizes is then written again, as after a lost
	// connection. <= 0 means DefaultTimeout.
	Timeout time.Duration
	// BatchSize is the number of rows per UPDATE statement and transaction in
	// WriteSizes; <= 0 means 1000.
	BatchSize int
	// OnRetry, when set, is called each time WriteSizes is about to write a
	// chunk again after a transient failure (a lost connection, a lock wait
	// timeout, a deadlock): err is the failure, with the password removed;
	// attempt is the number of the attempt that failed (from 1); wait is the
	// pause before the next. It is called from the goroutine of WriteSizes
	// and should return quickly.
	OnRetry func(err error, attempt int, wait time.Duration)
}

const (
	defaultTable          = "whatsapp_accounts"
	defaultConnectTimeout = 30 * time.Second
	// defaultBatchSize: each chunk costs about 1.5ms besides its rows (the
	// COMMIT's flush, BEGIN, the lock check, round trips), a tenth of the
	// time of 1000 rows on loopback MariaDB; larger chunks gain little more
	// and hold their row locks longer (db/bench_test.go).
	defaultBatchSize = 1000
)

// Columns the audit cannot work without, and columns it uses when present.
var (
	requiredColumns = []string{"id", "workspace_id", "session_id", "session_storage_path", "session_file_size_bytes", "session_storage_verified_at"}
	optionalColumns = []string{"deleted_at", "created_at", "updated_at", "assigned_instance_index", "status", "provider_type"}
)

// RequiredColumns returns the columns Open refuses to work without. The
// schema checklist rates exactly these as required.
func RequiredColumns() []string { return slices.Clone(requiredColumns) }

var identRe = regexp.MustCompile(`^[A-Za-z0-9_$]+$`)

// timeZoneRe matches what a time_zone value can be: an offset, SYSTEM or a
// zone name. It keeps quotes out of the SET statement.
var timeZoneRe = regexp.MustCompile(`^[A-Za-z0-9_+:/-]+$`)

// Store reads and writes the accounts table. It is safe for concurrent use.
type Store struct {
	db        *sql.DB
	table     string // display name, e.g. whatsapp_accounts
	quoted    string // quoted for SQL, e.g. `whatsapp_accounts`
	columns   map[string]bool
	schema    *Schema // as Open read it
	batchSize int
	// ranges is whether WriteSizes may write a chunk as ranges of ids,
	// in READ COMMITTED (see updateStatement and logsStatements).
	ranges  bool
	redact  redactor
	onRetry func(err error, attempt int, wait time.Duration)
	// lockBase is "<database>.<table>", the part of lock names that names
	// the table.
	lockBase string

	mu    sync.Mutex
	locks map[*Lock]struct{} // taken with Lock and not released
}

// Open connects to the server of cfg.DSN, checks that the table exists and
// has the required columns, and returns a Store for it. Errors match
// ErrBadDSN, ErrBadTable, ErrUnreachable, ErrAccessDenied,
// ErrUnknownDatabase, ErrBadTimeZone, ErrNoTable or ErrMissingColumns;
// none of them quotes the DSN's password.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.SessionTimeZone != "" && !timeZoneRe.MatchString(cfg.SessionTimeZone) {
		return nil, fmt.Errorf("%w: %q", ErrBadTimeZone, cfg.SessionTimeZone)
	}
	t, err := newTarget(cfg, func(mc *mysql.Config) {
		mc.ParseTime = true
		mc.Loc = time.UTC
		if cfg.TimeZone != nil {
			mc.Loc = cfg.TimeZone
		}
		mc.ClientFoundRows = true
		if cfg.SessionTimeZone != "" {
			mc.Params = maps.Clone(mc.Params)
			if mc.Params == nil {
				mc.Params = make(map[string]string)
			}
			mc.Params["time_zone"] = "'" + cfg.SessionTimeZone + "'"
		}
	})
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:        sql.OpenDB(t.connector),
		table:     t.display,
		quoted:    quoteTable(t.schema, t.table),
		batchSize: cfg.BatchSize,
		redact:    t.redact,
		onRetry:   cfg.OnRetry,
		lockBase:  t.schema + "." + t.table,
		locks:     make(map[*Lock]struct{}),
	}
	ictx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := s.db.PingContext(ictx); err != nil {
		s.db.Close()
		return nil, t.contextError(ctx, ictx, "connect to "+t.addr, err)
	}
	if err := s.discover(ictx, t); err != nil {
		s.db.Close()
		if ctx.Err() != nil || ictx.Err() != nil {
			return nil, t.contextError(ctx, ictx, "read columns of "+t.display, err)
		}
		return nil, err
	}
	s.ranges = !s.logsStatements(ictx)
	return s, nil
}

// logsStatements reports whether the server writes the statements of this
// Store's sessions to its binary log as statements (binlog_format
// STATEMENT, for replication). Such a server refuses an UPDATE made in READ
// COMMITTED (error 1665), the isolation in which WriteSizes writes a chunk
// as ranges of ids: it then writes every chunk as a list of ids, in
// the server's default isolation. A server that does not say (the
// variables are MySQL's and MariaDB's) is taken not to log statements.
func (s *Store) logsStatements(ctx context.Context) bool {
	var logBin, sqlLogBin int
	var format string
	err := s.db.QueryRowContext(ctx, "SELECT @@log_bin, @@sql_log_bin, @@binlog_format").Scan(&logBin, &sqlLogBin, &format)
	return err == nil && logBin == 1 && sqlLogBin == 1 && strings.EqualFold(format, "STATEMENT")
}

// splitTable validates name as table or schema.table.
func splitTable(name string) (schema, table string, err error) {
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if !identRe.MatchString(p) {
			return "", "", ErrBadTable
		}
	}
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	}
	return "", "", ErrBadTable
}

func quoteTable(schema, table string) string {
	if schema == "" {
		return "`" + table + "`"
	}
	return "`" + schema + "`.`" + table + "`"
}

// discover reads what information_schema says of the table, as Inspect
// does, checks that the required columns are there and keeps it.
func (s *Store) discover(ctx context.Context, t *target) error {
	sch := &Schema{Database: t.schema, Table: t.display}
	if err := t.readColumns(ctx, s.db, sch); err != nil {
		return s.redact.errorf("read columns of %s: %w", s.table, err)
	}
	if len(sch.Columns) == 0 {
		return fmt.Errorf("%w: %s", ErrNoTable, s.table)
	}
	cols := make(map[string]bool, len(sch.Columns))
	for _, c := range sch.Columns {
		cols[strings.ToLower(c.Name)] = true
	}
	var missing []string
	for _, c := range requiredColumns {
		if !cols[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return &MissingColumnsError{Table: s.table, Columns: missing}
	}
	if err := t.readIndexes(ctx, s.db, sch); err != nil {
		return s.redact.errorf("read indexes of %s: %w", s.table, err)
	}
	s.schema = sch
	s.columns = cols
	return nil
}

// Schema returns what information_schema said of the table when Open read
// it: the same facts as Inspect, for the schema checklist to judge. The
// result is the caller's to keep.
func (s *Store) Schema() *Schema { return s.schema.clone() }

// HasColumn reports whether the table has the named column (compared without
// regard to case, as MySQL does).
func (s *Store) HasColumn(name string) bool { return s.columns[strings.ToLower(name)] }

// Close releases the locks taken with Lock and not released yet, and closes
// the connections of the Store.
func (s *Store) Close() error {
	s.releaseAll()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.table, err)
	}
	return nil
}
