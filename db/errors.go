package db

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
)

var (
	// ErrBadDSN reports a DSN that go-sql-driver/mysql cannot parse.
	ErrBadDSN = errors.New("db: bad DSN")
	// ErrBadTable reports a Config.Table that is not an identifier, optionally
	// qualified by one schema name.
	ErrBadTable = errors.New("db: bad table name")
	// ErrUnreachable reports that the server could not be dialled, broke off
	// the connection, or did not answer within Config.ConnectTimeout.
	ErrUnreachable = errors.New("db: server unreachable")
	// ErrAccessDenied reports that the server answered and refused the login:
	// a wrong user or password (MySQL error 1045, or 1698), or a user that
	// may not use the database named in the DSN (1044; MySQL and MariaDB
	// also say so for a database that does not exist when the user could
	// not see it anyway). The error wraps the server's *mysql.MySQLError.
	ErrAccessDenied = errors.New("db: access denied")
	// ErrUnknownDatabase reports that the server answered and has no database
	// of the name in the DSN (MySQL error 1049). The error wraps the
	// server's *mysql.MySQLError.
	ErrUnknownDatabase = errors.New("db: unknown database")
	// ErrBadTimeZone reports a Config.SessionTimeZone that is not a time zone
	// value, or one the server does not know (MySQL error 1298).
	ErrBadTimeZone = errors.New("db: bad session time zone")
	// ErrNoTable reports that the accounts table does not exist.
	ErrNoTable = errors.New("db: table not found")
	// ErrMissingColumns reports a table that lacks columns the audit needs;
	// the error is a *MissingColumnsError naming them.
	ErrMissingColumns = errors.New("db: table lacks required columns")
)

// MissingColumnsError is returned by Open when the table lacks required
// columns. It matches ErrMissingColumns with errors.Is.
type MissingColumnsError struct {
	Table   string
	Columns []string
}

func (e *MissingColumnsError) Error() string {
	return fmt.Sprintf("db: table %s lacks required columns: %s", e.Table, strings.Join(e.Columns, ", "))
}

// Is reports whether target is ErrMissingColumns.
func (e *MissingColumnsError) Is(target error) bool { return target == ErrMissingColumns }

// MySQL error numbers a login can end with.
const (
	erDBAccessDenied         = 1044 // ER_DBACCESS_DENIED_ERROR
	erAccessDenied           = 1045 // ER_ACCESS_DENIED_ERROR
	erBadDB                  = 1049 // ER_BAD_DB_ERROR
	erUnknownTimeZone        = 1298 // ER_UNKNOWN_TIME_ZONE
	erAccessDeniedNoPassword = 1698 // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
)

// loginError returns the sentinel for a login the server refused with err:
// ErrAccessDenied, ErrUnknownDatabase, ErrBadTimeZone (the session time
// zone set on connecting), or ErrUnreachable when err is not such a refusal
// (a refused dial, a broken connection).
func loginError(err error) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return ErrUnreachable
	}
	switch me.Number {
	case erAccessDenied, erDBAccessDenied, erAccessDeniedNoPassword:
		return ErrAccessDenied
	case erBadDB:
		return ErrUnknownDatabase
	case erUnknownTimeZone:
		return ErrBadTimeZone
	}
	return ErrUnreachable
}

// redactor removes the password of a DSN from error messages: the parsed
// password, and whatever sits between the first ':' and the last '@' of the
// raw DSN. It also says when an error came of the server's silence (see
// silence), since every error a Store returns passes through it.
type redactor struct {
	secrets []string
	silence *silence
}

func newRedactor(rawDSN, passwd string) redactor {
	var r redactor
	if passwd != "" {
		r.secrets = append(r.secrets, passwd)
	}
	if at := strings.LastIndex(rawDSN, "@"); at > 0 {
		if colon := strings.Index(rawDSN[:at], ":"); colon >= 0 && colon+1 < at && rawDSN[colon+1:at] != passwd {
			r.secrets = append(r.secrets, rawDSN[colon+1:at])
		}
	}
	// Longest first, so that a shorter secret never breaks up a longer one.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// parseError describes why mysql.ParseDSN rejected rawDSN without quoting
// any part of its user information: the parser quotes pieces of the DSN in
// its messages, and in a malformed DSN a piece may be the password. The
// message comes from parsing a copy whose user information is blanked; a
// DSN without '@' gets only the parser's fixed messages.
func parseError(rawDSN string) string {
	const withheld = "rejected by go-sql-driver/mysql (message withheld: it may quote the password)"
	at := strings.LastIndex(rawDSN, "@")
	if at < 0 {
		if _, err := mysql.ParseDSN(rawDSN); err != nil && strings.HasPrefix(err.Error(), "invalid DSN:") {
			return err.Error()
		}
		return withheld
	}
	if _, err := mysql.ParseDSN("user:xxxxx" + rawDSN[at:]); err != nil {
		return err.Error()
	}
	return withheld
}

func (r redactor) redact(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	return s
}

// errorf is fmt.Errorf with the secrets removed from the message. When it had
// to remove one, the wrapped errors whose own text holds a secret are left
// out of the chain, so that no caller can print them by unwrapping. An
// error the server's silence caused matches ErrNoAnswer.
func (r redactor) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return r.silence.explain(err, r.clean(err, args))
}

// clean returns err, made by errorf of args, with the secrets removed.
func (r redactor) clean(err error, args []any) error {
	msg := err.Error()
	clean := r.redact(msg)
	if clean == msg {
		return err
	}
	var keep []error
	for _, a := range args {
		if e, ok := a.(error); ok && r.redact(e.Error()) == e.Error() {
			keep = append(keep, e)
		}
	}
	return &redactedError{msg: clean, errs: keep}
}

type redactedError struct {
	msg  string
	errs []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.errs }
