package cli

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"

	"sessaudit/cmd/internal/laravelenv"
	"sessaudit/db"
)

// connFlags say where the database is: --dsn, --laravel-env and
// --db-ca-file, the flags of every command that connects.
type connFlags struct {
	dsn, laravelEnv, caFile string
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dsn, "dsn", "", "MySQL `DSN` user:password@tcp(host:3306)/database (default: $SESSAUDIT_DSN, which keeps the password out of the process list)")
	fs.StringVar(&f.laravelEnv, "laravel-env", "", laravelEnvUsage)
	fs.StringVar(&f.caFile, "db-ca-file", "", "connect over TLS, verifying the server's certificate against the CA certificates (PEM) in `FILE`, "+
		"as Amazon RDS needs (default: the application's MYSQL_ATTR_SSL_CA when its connection is used; else no TLS unless the DSN asks for it)")
}

// laravelEnvUsage is the help of --laravel-env.
const laravelEnvUsage = "read the database connection from the Laravel application's .env `FILE` " +
	"(DB_CONNECTION mysql or mariadb, DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME, DB_PASSWORD, DB_SOCKET, MYSQL_ATTR_SSL_CA; APP_TIMEZONE), " +
	"a variable set in the environment winning over the file's line, as in Laravel; --dsn wins. " +
	"Without --dsn and --laravel-env, DB_CONNECTION in the environment makes the environment alone the connection"

// connection is where a command connects, as the flags and the
// environment resolve it.
type connection struct {
	dsn string
	// timeZone is the application's APP_TIMEZONE when its configuration
	// gave the connection; "" otherwise.
	timeZone string
}

// resolve returns the connection: --dsn (or SESSAUDIT_DSN) when set; else
// the application's configuration, from the .env file --laravel-env names
// under the process environment, or from the environment alone when it
// sets DB_CONNECTION. --db-ca-file, else the application's
// MYSQL_ATTR_SSL_CA, adds TLS. Neither its errors nor the DSN's
// description contain the password.
func (f *connFlags) resolve(env Env) (connection, error) {
	var app *laravelenv.Config
	switch {
	case f.dsn != "":
	case f.laravelEnv != "":
		c, err := laravelenv.Read(f.laravelEnv, env.getenv)
		if err != nil {
			return connection{}, err
		}
		app = &c
	case env.getenv("DB_CONNECTION") != "":
		c, err := laravelenv.FromEnvironment(env.getenv)
		if err != nil {
			return connection{}, err
		}
		app = &c
	default:
		return connection{}, usageError("--dsn, SESSAUDIT_DSN or --laravel-env is required, or the application's DB_* in the environment")
	}
	conn := connection{dsn: f.dsn}
	ca := f.caFile
	if app != nil {
		conn.dsn, conn.timeZone = app.DSN(), app.TimeZone
		if ca == "" {
			ca = app.SSLCA
		}
	}
	if ca != "" {
		dsn, err := withCA(conn.dsn, ca)
		if err != nil {
			return connection{}, err
		}
		conn.dsn = dsn
	}
	return conn, nil
}

// withCA returns dsn set to verify the server's certificate against the CA
// certificates in the file ca. The driver looks a TLS configuration up by
// name in a registry of its own (mysql.RegisterTLSConfig, the one global
// it forces); the name is derived from the DSN and the certificates, so
// that two connections never share one by accident.
func withCA(dsn, ca string) (string, error) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		return "", usageError("--db-ca-file (or MYSQL_ATTR_SSL_CA): %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return "", usageError("--db-ca-file (or MYSQL_ATTR_SSL_CA) %s: holds no PEM certificate", ca)
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("%w: %v", db.ErrBadDSN, err)
	}
	if mc.TLSConfig != "" && mc.TLSConfig != "false" {
		return "", usageError("--db-ca-file (or MYSQL_ATTR_SSL_CA) with a DSN that sets tls=%s: give one or the other", mc.TLSConfig)
	}
	serverName := "localhost" // a Unix socket: the certificate's name on this host
	if mc.Net == "tcp" {
		if host, _, err := net.SplitHostPort(mc.Addr); err == nil {
			serverName = host
		}
	}
	sum := sha256.Sum256([]byte(dsn + "\x00" + string(pem)))
	name := "sessaudit-" + hex.EncodeToString(sum[:8])
	if err := mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}); err != nil {
		return "", fmt.Errorf("register the TLS configuration: %w", err)
	}
	mc.TLSConfig = name
	return mc.FormatDSN(), nil
}

// tableFlags say where the accounts table is: the connection flags and
// --table, the database flags of every command that reads the table.
type tableFlags struct {
	conn  connFlags
	table string
}

func (f *tableFlags) register(fs *flag.FlagSet) {
	f.conn.register(fs)
	fs.StringVar(&f.table, "table", "whatsapp_accounts", "the accounts table (name or schema.name)")
}

// config returns the Store's configuration of the connection (see
// connFlags.resolve) and the table, with dbConnectTimeout.
func (f *tableFlags) config(env Env) (db.Config, error) {
	conn, err := f.conn.resolve(env)
	if err != nil {
		return db.Config{}, err
	}
	return db.Config{DSN: conn.dsn, Table: f.table, ConnectTimeout: dbConnectTimeout}, nil
}

// dbFlags are tableFlags and how the table's times read and how long a
// database call may take: the database flags of audit and watch.
type dbFlags struct {
	tableFlags
	timeZone, sessionZone string
	timeout               time.Duration
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	f.tableFlags.register(fs)
	fs.StringVar(&f.timeZone, "db-time-zone", "", "time zone the application writes timestamps in, its app.timezone (IANA name) "+
		"(default: the application's APP_TIMEZONE when its connection is used, else UTC)")
	fs.StringVar(&f.sessionZone, "db-session-time-zone", "", "time_zone to set on every database connection, only when the application's database configuration sets one (e.g. +00:00; default: the server's)")
	durationVar(fs, &f.timeout, "db-timeout", db.DefaultTimeout, "give up on a database call when the server says nothing for this long (a stopped or cut-off server); the run then stops (exit 2), watch reports not ready")
}

// config returns the Store's configuration: the connection (see
// connFlags.resolve), the table, the time zones and the deadline.
func (f *dbFlags) config(env Env) (db.Config, error) {
	if f.timeout <= 0 {
		return db.Config{}, usageError("--db-timeout %v must be positive", f.timeout)
	}
	conn, err := f.conn.resolve(env)
	if err != nil {
		return db.Config{}, err
	}
	zone, flag := f.timeZone, "--db-time-zone"
	if zone == "" && conn.timeZone != "" {
		zone, flag = conn.timeZone, "the application's APP_TIMEZONE"
	}
	if zone == "" {
		zone = "UTC"
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return db.Config{}, usageError("%s %q: %v", flag, zone, err)
	}
	return db.Config{DSN: conn.dsn, Table: f.table, TimeZone: loc, SessionTimeZone: f.sessionZone, Timeout: f.timeout}, nil
}
