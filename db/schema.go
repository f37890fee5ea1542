package db

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Schema is what information_schema says about the accounts table: plain
// facts. Inspect and Open read it; package checklist judges it against the
// migrations.
type Schema struct {
	// Database is the database holding the table: the qualifier of
	// Config.Table, or else the database named in the DSN.
	Database string
	// Table is the table as Config.Table names it: "name" or "schema.name".
	Table string
	// Columns are the columns in table order.
	Columns []Column
	// Indexes are the indexes, PRIMARY included, ordered by name.
	Indexes []Index
}

// Column is one column as information_schema.columns describes it.
type Column struct {
	Name string
	// DataType is the type without length or attributes, in lower case:
	// "varchar", "bigint", "timestamp".
	DataType string
	// ColumnType is the full type in lower case as the server prints it:
	// "bigint unsigned" (MySQL 8, go-mysql-server) or "bigint(20) unsigned"
	// (MariaDB, which keeps display widths), "enum('a','b')".
	ColumnType string
	// MaxLength is CHARACTER_MAXIMUM_LENGTH: for CHAR and VARCHAR their
	// length in characters; for the TEXT types MySQL and MariaDB give bytes
	// and go-mysql-server characters; 0 for other types.
	MaxLength int64
	Nullable  bool
}

// Unsigned reports whether the column is a numeric type declared UNSIGNED.
func (c Column) Unsigned() bool { return strings.Contains(c.ColumnType, "unsigned") }

// Index is one index of the table.
type Index struct {
	Name   string
	Unique bool
	// Columns are the indexed columns in index order; an expression key part
	// (a MySQL 8 functional index) is "".
	Columns []string
}

// clone returns a copy of s that shares no memory with it.
func (s *Schema) clone() *Schema {
	c := *s
	c.Columns = slices.Clone(s.Columns)
	c.Indexes = slices.Clone(s.Indexes)
	for i := range c.Indexes {
		c.Indexes[i].Columns = slices.Clone(c.Indexes[i].Columns)
	}
	return &c
}

// Column returns the column of that name, compared without regard to case
// as MySQL does.
func (s *Schema) Column(name string) (Column, bool) {
	for _, c := range s.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// Inspect reads the columns and indexes of the table of cfg from
// information_schema. Unlike Open it needs no particular column: it is how a
// table that Open refuses is examined. cfg.ConnectTimeout bounds the whole
// call; TimeZone and BatchSize are not used. Errors match ErrBadDSN,
// ErrBadTable, ErrUnreachable, ErrAccessDenied, ErrUnknownDatabase or
// ErrNoTable; none of them quotes the DSN's
// password.
func Inspect(ctx context.Context, cfg Config) (*Schema, error) {
	t, err := newTarget(cfg, nil)
	if err != nil {
		return nil, err
	}
	pool := sql.OpenDB(t.connector)
	defer pool.Close()

	ictx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := pool.PingContext(ictx); err != nil {
		return nil, t.contextError(ctx, ictx, "connect to "+t.addr, err)
	}
	s := &Schema{Database: t.schema, Table: t.display}
	if err := t.readColumns(ictx, pool, s); err != nil {
		return nil, t.contextError(ctx, ictx, "read columns of "+t.display, err)
	}
	if len(s.Columns) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoTable, t.display)
	}
	if err := t.readIndexes(ictx, pool, s); err != nil {
		return nil, t.contextError(ctx, ictx, "read indexes of "+t.display, err)
	}
	return s, nil
}

// target is a Config checked and resolved: the connector to dial, the table
// split and named, and the redactor of the DSN's password. Open and Inspect
// both connect through it.
type target struct {
	connector driver.Connector
	addr      string
	schema    string // the table's database, never empty
	table     string
	display   string // the table as Config.Table names it
	timeout   time.Duration
	redact    redactor
}

// newTarget checks and resolves cfg; tune, when set, adjusts the driver's
// configuration before the connector is made.
func newTarget(cfg Config, tune func(*mysql.Config)) (*target, error) {
	if strings.TrimSpace(cfg.DSN) == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadDSN)
	}
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadDSN, parseError(cfg.DSN))
	}
	red := newRedactor(cfg.DSN, mc.Passwd)
	if cfg.Table == "" {
		cfg.Table = defaultTable
	}
	schema, table, err := splitTable(cfg.Table)
	if err != nil {
		return nil, red.errorf("%w: %q", ErrBadTable, cfg.Table)
	}
	if schema == "" && mc.DBName == "" {
		return nil, fmt.Errorf("%w: it names no database, and table %s has no schema qualifier", ErrBadDSN, cfg.Table)
	}
	if schema == "" {
		schema = mc.DBName
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if mc.Timeout <= 0 || mc.Timeout > cfg.ConnectTimeout {
		mc.Timeout = cfg.ConnectTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	mc.ReadTimeout, mc.WriteTimeout = cfg.Timeout, cfg.Timeout
	// The driver's log (to stderr by default) is kept only for what
	// silence needs of it.
	quiet := &silence{timeout: cfg.Timeout}
	mc.Logger = quiet
	red.silence = quiet
	if tune != nil {
		tune(mc)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, red.errorf("%w: %w", ErrBadDSN, err)
	}
	return &target{
		connector: conn,
		addr:      mc.Addr,
		schema:    schema,
		table:     table,
		display:   cfg.Table,
		timeout:   cfg.ConnectTimeout,
		redact:    red,
	}, nil
}

// contextError words err, which happened while doing what, as Open does: an
// interruption by the caller, ErrUnreachable when the time ran out, and
// otherwise err itself; when what is connecting, err matches as well the
// sentinel of loginError: ErrAccessDenied, ErrUnknownDatabase or
// ErrUnreachable.
func (t *target) contextError(ctx, ictx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return t.redact.errorf("%s: %w", what, ctx.Err())
	case ictx.Err() != nil:
		return t.redact.errorf("%w: %s: no answer within %s", ErrUnreachable, what, t.timeout)
	case strings.HasPrefix(what, "connect "):
		return t.redact.errorf("%w: %s: %w", loginError(err), what, err)
	}
	return t.redact.errorf("%s: %w", what, err)
}

func (t *target) readColumns(ctx context.Context, pool *sql.DB, s *Schema) error {
	const q = `SELECT column_name, data_type, column_type, character_maximum_length, is_nullable
		FROM information_schema.columns WHERE table_schema = ? AND table_name = ?
		ORDER BY ordinal_position`
	rows, err := pool.QueryContext(ctx, q, t.schema, t.table)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c        Column
			maxLen   sql.NullInt64
			nullable string
		)
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &maxLen, &nullable); err != nil {
			return err
		}
		c.DataType = strings.ToLower(c.DataType)
		c.ColumnType = strings.ToLower(c.ColumnType)
		c.MaxLength = maxLen.Int64
		c.Nullable = strings.EqualFold(nullable, "YES")
		s.Columns = append(s.Columns, c)
	}
	return rows.Err()
}

func (t *target) readIndexes(ctx context.Context, pool *sql.DB, s *Schema) error {
	const q = `SELECT index_name, non_unique, column_name
		FROM information_schema.statistics WHERE table_schema = ? AND table_name = ?
		ORDER BY index_name, seq_in_index`
	rows, err := pool.QueryContext(ctx, q, t.schema, t.table)
	if err != nil {
		return err
	}
	defer rows.Close()
	byName := make(map[string]*Index)
	for rows.Next() {
		var (
			name      string
			nonUnique int64
			column    sql.NullString
		)
		if err := rows.Scan(&name, &nonUnique, &column); err != nil {
			return err
		}
		ix := byName[name]
		if ix == nil {
			ix = &Index{Name: name, Unique: nonUnique == 0}
			byName[name] = ix
		}
		ix.Columns = append(ix.Columns, column.String)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ix := range byName {
		s.Indexes = append(s.Indexes, *ix)
	}
	slices.SortFunc(s.Indexes, func(a, b Index) int { return cmp.Compare(a.Name, b.Name) })
	return nil
}
