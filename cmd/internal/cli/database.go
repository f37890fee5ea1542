package cli

import (
	"flag"
	"time"

	"sessaudit/cmd/internal/laravelenv"
	"sessaudit/db"
)

// dbFlags say where the accounts table is and how its times read: the
// flags audit and watch share.
type dbFlags struct {
	dsn, laravelEnv, table, timeZone, sessionZone string
	timeout                                       time.Duration
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dsn, "dsn", "", "MySQL `DSN` user:password@tcp(host:3306)/database (default: $SESSAUDIT_DSN, which keeps the password out of the process list)")
	registerLaravelEnv(fs, &f.laravelEnv)
	fs.StringVar(&f.table, "table", "whatsapp_accounts", "the accounts table (name or schema.name)")
	fs.StringVar(&f.timeZone, "db-time-zone", "UTC", "time zone the application writes timestamps in, its app.timezone (IANA name)")
	fs.StringVar(&f.sessionZone, "db-session-time-zone", "", "time_zone to set on every database connection, only when the application's database configuration sets one (e.g. +00:00; default: the server's)")
	fs.DurationVar(&f.timeout, "db-timeout", db.DefaultTimeout, "give up on a database call when the server says nothing for this long (a stopped or cut-off server); the run then stops (exit 2), watch reports not ready")
}

// config returns the Store's configuration: the DSN from --dsn,
// SESSAUDIT_DSN or the application's .env (see resolveDSN), the table and
// the time zones.
func (f *dbFlags) config() (db.Config, error) {
	if f.timeout <= 0 {
		return db.Config{}, usageError("--db-timeout %v must be positive", f.timeout)
	}
	loc, err := time.LoadLocation(f.timeZone)
	if err != nil {
		return db.Config{}, usageError("--db-time-zone %q: %v", f.timeZone, err)
	}
	dsn, err := resolveDSN(f.dsn, f.laravelEnv)
	if err != nil {
		return db.Config{}, err
	}
	return db.Config{DSN: dsn, Table: f.table, TimeZone: loc, SessionTimeZone: f.sessionZone, Timeout: f.timeout}, nil
}

// laravelEnvUsage is the help of --laravel-env.
const laravelEnvUsage = "read the database connection from the Laravel application's .env `FILE` " +
	"(DB_CONNECTION mysql or mariadb, DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME, DB_PASSWORD, DB_SOCKET); --dsn wins"

func registerLaravelEnv(fs *flag.FlagSet, path *string) {
	fs.StringVar(path, "laravel-env", "", laravelEnvUsage)
}

// resolveDSN returns the DSN to connect with: dsn (from --dsn or
// SESSAUDIT_DSN) when set, else the one the .env file at laravelEnv names.
// Neither its errors nor the DSN's description contain the password.
func resolveDSN(dsn, laravelEnv string) (string, error) {
	switch {
	case dsn != "":
		return dsn, nil
	case laravelEnv != "":
		cfg, err := laravelenv.Read(laravelEnv, nil)
		if err != nil {
			return "", err
		}
		return cfg.DSN(), nil
	}
	return "", usageError("--dsn, SESSAUDIT_DSN or --laravel-env is required")
}
