package checklist

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"sessaudit/db"
)

// ErrUnusableColumns reports a table that has every column the audit
// requires but one of them of a type the checklist rates an error; the
// error returned by Result.Usable names each such column and its problem.
var ErrUnusableColumns = errors.New("checklist: required columns of unusable types")

// Status is the verdict on one checklist item.
type Status string

const (
	// StatusOK: present and compatible.
	StatusOK Status = "ok"
	// StatusWarn: recommended and missing or different, or required and
	// usable with a limit; the audit works.
	StatusWarn Status = "warn"
	// StatusError: the audit cannot run, or (a unique index on
	// phone_number) the application's writes fail.
	StatusError Status = "error"
)

// Item is one line of the checklist.
type Item struct {
	// Name says what was checked: "column session_storage_path",
	// "index idx_instance_assignment", "unique index on phone_number".
	Name   string
	Status Status
	// Detail says what was found and, when it is not ok, why it matters.
	Detail string
	// Fix is the one SQL statement that resolves the item, or "" when it is
	// ok or has no fix that is safe to write without knowing the data.
	Fix string
	// Required: the item is a column db.Open requires; the audit cannot run
	// while it is an error.
	Required bool
	// missing: the item is a column the table lacks.
	missing bool
}

// Result is the checklist applied to one table.
type Result struct {
	Table string
	// Items are in checklist order: the columns the audit requires, the
	// recommended columns in migration order, the unique indexes that
	// include phone_number, the recommended indexes.
	Items []Item
}

// Ready reports whether no item is an error: every column the audit needs
// is there with a compatible type, and no unique index includes
// phone_number.
func (c *Result) Ready() bool {
	return !slices.ContainsFunc(c.Items, func(it Item) bool { return it.Status == StatusError })
}

// Usable returns nil when every column the audit requires is there with a
// type it can use, and otherwise an error naming each required column that
// is an error item and what is wrong with it. It matches
// ErrUnusableColumns, or db.ErrMissingColumns when a column is missing.
// Unlike Ready it lets a unique index on phone_number pass: that breaks the
// application's writes, not the audit's.
func (c *Result) Usable() error {
	var missing, unusable []string
	for _, it := range c.Items {
		if !it.Required || it.Status != StatusError {
			continue
		}
		name := strings.TrimPrefix(it.Name, "column ")
		if it.missing {
			missing = append(missing, name)
			continue
		}
		unusable = append(unusable, name+" is "+it.Detail)
	}
	if len(missing) > 0 {
		return &db.MissingColumnsError{Table: c.Table, Columns: missing}
	}
	if len(unusable) > 0 {
		return fmt.Errorf("%w: table %s: %s", ErrUnusableColumns, c.Table, strings.Join(unusable, "; "))
	}
	return nil
}

// SQL returns the fixes of all items, in checklist order, which is an order
// they can run in one after another: a column is added before a column
// placed AFTER it and before an index on it. The statements bring the table
// to the migrated schema, except for what Check leaves to a person (a
// recommended column of another type, a primary key that includes
// phone_number). Check never runs them.
func (c *Result) SQL() []string {
	var out []string
	for _, it := range c.Items {
		if it.Fix != "" {
			out = append(out, it.Fix)
		}
	}
	return out
}

// migrations names the four migrations of the document.
var migrations = map[int]string{
	1: "migration 1, instance tracking",
	2: "migration 2, disconnect tracking",
	3: "migration 3, storage metadata",
	4: "migration 4, failover tracking",
}

// columnSpec is a column one of the migrations adds.
type columnSpec struct {
	name      string
	migration int
	// after is the column of the migration's ->after(...).
	after string
	// def is the column definition the migration produces.
	def string
	// judge rates a column of that name that is present: its status when
	// the column is required (a recommended column is at most a warning),
	// and what is wrong when it is not ok.
	judge func(db.Column) (Status, string)
}

// columnSpecs are the migrated columns in checklist order: the storage
// columns the audit requires, then the recommended ones in migration order.
// Within one migration the order is the migration's, so a column's AFTER
// column comes first; previous_instance_index (migration 4) goes after
// assigned_instance_index (migration 1).
//
// The definitions follow the Laravel migrations: string(...) is VARCHAR,
// tinyInteger TINYINT, bigInteger BIGINT (signed), nullable() NULL, and the
// comments are those of the migration plan. instance_migration_count is
// written as in testdata/schema.sql, INT DEFAULT 0 (nullable).
var columnSpecs = []columnSpec{
	{"session_storage_path", 3, "session_data",
		"VARCHAR(500) NULL DEFAULT NULL COMMENT 'Path to session files in shared storage'",
		judgeStoragePath},
	{"session_file_size_bytes", 3, "session_storage_path",
		"BIGINT NULL DEFAULT NULL COMMENT 'Total size of session files'",
		judgeSizeBytes},
	{"session_storage_verified_at", 3, "session_file_size_bytes",
		"TIMESTAMP NULL DEFAULT NULL COMMENT 'Last time session files were verified'",
		judgeTime},

	{"assigned_instance_index", 1, "workspace_id",
		"TINYINT NULL DEFAULT NULL COMMENT 'Index of WhatsApp instance handling this session (0-based)'",
		judgeInteger("TINYINT; the audit reads it as an integer")},
	{"assigned_instance_url", 1, "assigned_instance_index",
		"VARCHAR(255) NULL DEFAULT NULL COMMENT 'URL of instance handling this session'",
		judgeChars(255)},
	{"disconnected_at", 2, "last_connected_at",
		"TIMESTAMP NULL DEFAULT NULL COMMENT 'When session was disconnected'",
		judgeTime},
	{"disconnect_reason", 2, "disconnected_at",
		"ENUM(" + quoteValues(disconnectReasons) + ") NULL DEFAULT NULL COMMENT 'Reason for disconnect'",
		judgeEnum(disconnectReasons)},
	{"disconnect_details", 2, "disconnect_reason",
		"TEXT NULL COMMENT 'Additional details about disconnect'",
		judgeText},
	{"instance_migration_count", 4, "session_restore_count",
		"INT DEFAULT 0 COMMENT 'Number of times session migrated to different instance'",
		judgeInteger("INT")},
	{"last_instance_migration_at", 4, "instance_migration_count",
		"TIMESTAMP NULL DEFAULT NULL COMMENT 'Last instance migration time'",
		judgeTime},
	{"previous_instance_index", 4, "assigned_instance_index",
		"TINYINT NULL DEFAULT NULL COMMENT 'Previous instance index before migration'",
		judgeInteger("TINYINT")},
}

var disconnectReasons = []string{"user_initiated", "instance_restart", "timeout", "error", "qr_expired", "unknown"}

// indexSpec is an index the migrations add.
type indexSpec struct {
	name      string
	migration int
	columns   []string
}

var indexSpecs = []indexSpec{
	{"idx_instance_assignment", 1, []string{"assigned_instance_index"}},
	{"idx_disconnect_analytics", 2, []string{"disconnect_reason", "disconnected_at"}},
}

// migratedLayout is the column order of the fully migrated table
// (testdata/schema.sql). When the AFTER column of a missing column is itself
// missing, the column goes after the nearest column before it here that the
// table has.
var migratedLayout = []string{
	"id", "uuid", "workspace_id", "assigned_instance_index", "previous_instance_index",
	"assigned_instance_url", "session_id", "phone_number", "provider_type", "status", "qr_code",
	"session_data", "session_storage_path", "session_file_size_bytes", "session_storage_verified_at",
	"is_primary", "is_active", "last_activity_at", "last_connected_at", "disconnected_at",
	"disconnect_reason", "disconnect_details", "last_cleanup_at", "session_restore_count",
	"instance_migration_count", "last_instance_migration_at", "health_score", "metadata",
	"created_by", "created_at", "updated_at", "deleted_at",
}

// Check applies the checklist to s:
//
//   - every column the audit requires (db.RequiredColumns) must be there; the three
//     storage columns with a compatible type (an error otherwise);
//   - the eight recommended columns of migrations 1, 2 and 4 should be there
//     with the migration's type (a warning otherwise);
//   - no unique index may include phone_number (an error);
//   - the two recommended indexes should exist (a warning otherwise): any
//     index whose leading columns are theirs serves.
//
// A missing column gets an ADD COLUMN placed as its migration places it; a
// required column of an unusable type a MODIFY COLUMN to the migration's
// definition; a unique index on phone_number a DROP INDEX; a missing index a
// CREATE INDEX.
//
// Check reads nothing but s: it is a pure function of what db.Inspect (or
// Store.Schema) read from information_schema.
func Check(s *db.Schema) *Result {
	quoted := quotedTable(s.Table)
	present := make(map[string]bool, len(s.Columns))
	for _, c := range s.Columns {
		present[strings.ToLower(c.Name)] = true
	}
	required := db.RequiredColumns()
	cl := &Result{Table: s.Table}

	// Columns Open requires that no migration adds: id, workspace_id,
	// session_id. Without them this is not the accounts table.
	for _, name := range required {
		if slices.ContainsFunc(columnSpecs, func(cs columnSpec) bool { return cs.name == name }) {
			continue
		}
		it := Item{Name: "column " + name, Status: StatusOK, Required: true}
		if c, ok := s.Column(name); ok {
			it.Detail = c.ColumnType
		} else {
			it.Status = StatusError
			it.Detail = "missing; the audit needs it and no migration adds it: is this the accounts table?"
			it.missing = true
		}
		cl.Items = append(cl.Items, it)
	}

	for _, cs := range columnSpecs {
		cl.Items = append(cl.Items, checkColumn(s, cs, slices.Contains(required, cs.name), quoted, present))
	}
	cl.Items = append(cl.Items, checkPhoneUnique(s, quoted)...)
	for _, is := range indexSpecs {
		cl.Items = append(cl.Items, checkIndex(s, is, quoted))
	}
	return cl
}

// checkColumn rates one migrated column. present holds the columns of the
// table and those that the fixes before this one add; a missing column is
// added to it. required: the audit cannot run without it.
func checkColumn(s *db.Schema, cs columnSpec, required bool, quoted string, present map[string]bool) Item {
	it := Item{Name: "column " + cs.name, Required: required}
	role := "recommended"
	if required {
		role = "required by the audit"
	}
	c, ok := s.Column(cs.name)
	if !ok {
		it.Status = StatusWarn
		if required {
			it.Status = StatusError
		}
		it.missing = true
		it.Detail = fmt.Sprintf("missing; %s (%s)", role, migrations[cs.migration])
		it.Fix = fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s %s;", quoted, quoteIdent(cs.name), cs.def, position(cs.after, present))
		present[cs.name] = true
		return it
	}
	status, problem := cs.judge(c)
	if status == StatusOK {
		it.Status = StatusOK
		it.Detail = c.ColumnType
		return it
	}
	if !required {
		it.Status = StatusWarn
		it.Detail = fmt.Sprintf("%s: %s; %s (%s); not changed automatically, a type change can lose data", c.ColumnType, problem, role, migrations[cs.migration])
		return it
	}
	it.Status = status
	it.Detail = fmt.Sprintf("%s: %s; %s (%s)", c.ColumnType, problem, role, migrations[cs.migration])
	it.Fix = fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s;", quoted, quoteIdent(cs.name), cs.def)
	return it
}

// position is the AFTER clause for a column the migration places after the
// column after: that column when present, else the nearest present column
// before it in the migrated layout, else FIRST.
func position(after string, present map[string]bool) string {
	if present[after] {
		return "AFTER " + quoteIdent(after)
	}
	i := slices.Index(migratedLayout, after)
	for i--; i >= 0; i-- {
		if present[migratedLayout[i]] {
			return "AFTER " + quoteIdent(migratedLayout[i])
		}
	}
	return "FIRST"
}

// checkPhoneUnique reports every unique index that includes phone_number:
// the document's "Phone Number Unique Constraint" section. Such a key
// (phone_number, workspace_id, status) made a second disconnected account
// with the same number fail.
func checkPhoneUnique(s *db.Schema, quoted string) []Item {
	var items []Item
	for _, ix := range s.Indexes {
		if !ix.Unique || !slices.ContainsFunc(ix.Columns, func(c string) bool { return strings.EqualFold(c, "phone_number") }) {
			continue
		}
		it := Item{
			Name:   "unique index " + ix.Name,
			Status: StatusError,
			Detail: fmt.Sprintf("UNIQUE (%s): a second account with the same number and these values (a second disconnected one, say) cannot be stored; no unique index may include phone_number", strings.Join(ix.Columns, ", ")),
		}
		if strings.EqualFold(ix.Name, "PRIMARY") {
			it.Detail += "; the primary key must be changed by hand"
		} else {
			it.Fix = fmt.Sprintf("ALTER TABLE %s DROP INDEX %s;", quoted, quoteIdent(ix.Name))
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		items = append(items, Item{Name: "unique index on phone_number", Status: StatusOK, Detail: "none"})
	}
	return items
}

// checkIndex rates one recommended index. An index serves when its leading
// columns are the wanted ones, whatever its name.
func checkIndex(s *db.Schema, is indexSpec, quoted string) Item {
	cols := strings.Join(is.columns, ", ")
	it := Item{Name: "index " + is.name}
	var named *db.Index
	for i, ix := range s.Indexes {
		if len(ix.Columns) >= len(is.columns) && slices.EqualFunc(ix.Columns[:len(is.columns)], is.columns, strings.EqualFold) {
			it.Status = StatusOK
			it.Detail = "(" + strings.Join(ix.Columns, ", ") + ")"
			if !strings.EqualFold(ix.Name, is.name) {
				it.Detail += " as " + ix.Name
			}
			return it
		}
		if strings.EqualFold(ix.Name, is.name) {
			named = &s.Indexes[i]
		}
	}
	it.Status = StatusWarn
	quotedCols := make([]string, len(is.columns))
	for i, c := range is.columns {
		quotedCols[i] = quoteIdent(c)
	}
	if named != nil {
		it.Detail = fmt.Sprintf("indexes (%s), the migration's indexes (%s); recommended (%s)", strings.Join(named.Columns, ", "), cols, migrations[is.migration])
		it.Fix = fmt.Sprintf("ALTER TABLE %s DROP INDEX %s, ADD INDEX %s (%s);", quoted, quoteIdent(is.name), quoteIdent(is.name), strings.Join(quotedCols, ", "))
		return it
	}
	it.Detail = fmt.Sprintf("missing: no index on (%s); recommended (%s)", cols, migrations[is.migration])
	it.Fix = fmt.Sprintf("CREATE INDEX %s ON %s (%s);", quoteIdent(is.name), quoted, strings.Join(quotedCols, ", "))
	return it
}

// Judges. Each returns the status of a present column as if it were
// required, and what is wrong with it when it is not ok.

// judgeStoragePath: VARCHAR of at least 500 characters or TEXT, MEDIUMTEXT,
// LONGTEXT; shorter VARCHAR and TINYTEXT work but cut long paths (warn);
// anything else is an error.
func judgeStoragePath(c db.Column) (Status, string) {
	switch c.DataType {
	case "varchar":
		if c.MaxLength < 500 {
			return StatusWarn, fmt.Sprintf("holds %d characters, the migration 500: longer paths cannot be stored", c.MaxLength)
		}
		return StatusOK, ""
	case "text", "mediumtext", "longtext":
		return StatusOK, ""
	case "tinytext":
		return StatusWarn, "holds 255 bytes, the migration 500 characters: longer paths cannot be stored"
	}
	return StatusError, "not VARCHAR or TEXT"
}

// integerMax is the largest value of each signed integer type.
var integerMax = map[string]uint64{
	"tinyint":   1<<7 - 1,
	"smallint":  1<<15 - 1,
	"mediumint": 1<<23 - 1,
	"int":       1<<31 - 1,
	"integer":   1<<31 - 1,
	"bigint":    1<<63 - 1,
}

// judgeSizeBytes: BIGINT, signed or unsigned. A smaller integer type is an
// error, not a warning: a session of 2 GiB (INT; 4 GiB unsigned) would fail
// the whole write transaction in strict SQL mode and be stored clamped,
// wrong, in any other.
func judgeSizeBytes(c db.Column) (Status, string) {
	m, ok := integerMax[c.DataType]
	switch {
	case !ok:
		return StatusError, "not an integer type: the migration defines BIGINT"
	case c.DataType == "bigint":
		return StatusOK, ""
	}
	if c.Unsigned() {
		m = 2*m + 1
	}
	return StatusError, fmt.Sprintf("holds sizes up to %d bytes (%s); a larger session could not be written: the migration defines BIGINT", m, approxBinary(m+1))
}

// judgeTime: TIMESTAMP or DATETIME.
func judgeTime(c db.Column) (Status, string) {
	if c.DataType == "timestamp" || c.DataType == "datetime" {
		return StatusOK, ""
	}
	return StatusError, "not TIMESTAMP or DATETIME"
}

// judgeInteger: any integer type; want names the migration's type.
func judgeInteger(want string) func(db.Column) (Status, string) {
	return func(c db.Column) (Status, string) {
		if _, ok := integerMax[c.DataType]; ok {
			return StatusOK, ""
		}
		return StatusError, "not an integer type: the migration defines " + want
	}
}

// judgeChars: a VARCHAR of at least n characters, or a TEXT type.
func judgeChars(n int64) func(db.Column) (Status, string) {
	return func(c db.Column) (Status, string) {
		switch c.DataType {
		case "varchar":
			if c.MaxLength >= n {
				return StatusOK, ""
			}
			return StatusError, fmt.Sprintf("holds %d characters, the migration %d", c.MaxLength, n)
		case "text", "mediumtext", "longtext":
			return StatusOK, ""
		}
		return StatusError, fmt.Sprintf("not VARCHAR: the migration defines VARCHAR(%d)", n)
	}
}

// judgeText: TEXT, MEDIUMTEXT or LONGTEXT.
func judgeText(c db.Column) (Status, string) {
	switch c.DataType {
	case "text", "mediumtext", "longtext":
		return StatusOK, ""
	}
	return StatusError, "not TEXT: the migration defines TEXT"
}

// judgeEnum: an ENUM with at least the values the application writes.
func judgeEnum(values []string) func(db.Column) (Status, string) {
	return func(c db.Column) (Status, string) {
		if c.DataType != "enum" {
			return StatusError, "not ENUM: the migration defines ENUM(" + quoteValues(values) + ")"
		}
		have := enumValues(c.ColumnType)
		var lacking []string
		for _, v := range values {
			if !slices.Contains(have, v) {
				lacking = append(lacking, "'"+v+"'")
			}
		}
		if len(lacking) > 0 {
			return StatusError, "lacks the values " + strings.Join(lacking, ", ")
		}
		return StatusOK, ""
	}
}

// enumValues parses the values of an enum column type such as enum('a','b'),
// where a quote inside a value is written twice.
func enumValues(columnType string) []string {
	var (
		values []string
		cur    strings.Builder
		in     bool
	)
	for i := 0; i < len(columnType); i++ {
		ch := columnType[i]
		switch {
		case !in && ch == '\'':
			in = true
			cur.Reset()
		case in && ch == '\'' && i+1 < len(columnType) && columnType[i+1] == '\'':
			cur.WriteByte('\'')
			i++
		case in && ch == '\'':
			in = false
			values = append(values, cur.String())
		case in:
			cur.WriteByte(ch)
		}
	}
	return values
}

func quoteValues(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return strings.Join(q, ", ")
}

// quoteIdent quotes a column or index name with backticks.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// quotedTable is a table named "t" or "schema.t", as db.Schema.Table names
// it, quoted for SQL: `t` or `schema`.`t`.
func quotedTable(table string) string {
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		// Not from db, which accepts one qualifier; quote it whole rather
		// than guess.
		return quoteIdent(table)
	}
	for i, p := range parts {
		parts[i] = quoteIdent(p)
	}
	return strings.Join(parts, ".")
}

// approxBinary writes n bytes in the largest binary unit that divides it
// evenly, as 2 GiB.
func approxBinary(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && n%1024 == 0 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d %s", n, units[i])
}
