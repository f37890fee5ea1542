package laravelenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// ErrInvalid reports a .env file that does not name a usable MySQL or
// MariaDB connection.
var ErrInvalid = errors.New("laravelenv: no usable database connection")

// Config is the database connection of a Laravel application, as its
// config/database.php builds the mysql and mariadb connections from the
// environment, and the time zone its config/app.php reads.
type Config struct {
	Connection string // DB_CONNECTION: mysql or mariadb
	Host       string // DB_HOST, default 127.0.0.1
	Port       string // DB_PORT, default 3306
	Database   string // DB_DATABASE
	Username   string // DB_USERNAME
	Password   string // DB_PASSWORD, default empty
	Socket     string // DB_SOCKET: a Unix socket, used instead of host and port when set
	// SSLCA is MYSQL_ATTR_SSL_CA: the CA file the connection's server
	// certificate is verified against; set, the connection uses TLS.
	SSLCA string
	// TimeZone is APP_TIMEZONE, the app.timezone of Laravel 11 and later
	// (config/app.php: env('APP_TIMEZONE', 'UTC')); empty when not set.
	TimeZone string
}

// Read reads the .env file at path as Laravel loads it: a variable set
// (not empty) in the process environment, which getenv reads, wins over
// the file's line, as on Kubernetes, where the pod's env holds DB_* and
// the .env may hold the rest; ${NAME} refers to the environment's NAME,
// else an earlier line's.
func Read(path string, getenv func(string) string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read laravel env: %w", err)
	}
	return Parse(path, data, getenv)
}

// FromEnvironment reads the connection from the process environment alone,
// as Laravel does when there is no .env file.
func FromEnvironment(getenv func(string) string) (Config, error) {
	return config("the environment", func(k string) string { return getenv(k) })
}

// Parse parses the contents of a .env file under the environment getenv
// reads (nil: none); name is used in errors.
func Parse(name string, data []byte, getenv func(string) string) (Config, error) {
	entries, err := parseEntries(string(data))
	if err != nil {
		// Never the line: it may hold the password.
		return Config{}, fmt.Errorf("%w: %s is not a valid .env file (check its quoting)", ErrInvalid, name)
	}
	fromEnv := func(k string) (string, bool) {
		if getenv == nil {
			return "", false
		}
		v := getenv(k)
		return v, v != ""
	}
	file := map[string]string{}
	lookup := func(k string) (string, bool) {
		if v, ok := fromEnv(k); ok {
			return v, true
		}
		v, ok := file[k]
		return v, ok
	}
	for _, e := range entries {
		if _, ok := fromEnv(e.name); ok {
			continue // the environment wins, as Laravel's immutable repository
		}
		file[e.name] = resolve(e.value, e.vars, lookup)
	}
	return config(name, func(k string) string { v, _ := lookup(k); return v })
}

// config builds the Config from the variables get reads; name says where
// they came from in errors.
func config(name string, get func(string) string) (Config, error) {
	c := Config{
		Connection: get("DB_CONNECTION"),
		Host:       valueOr(get, "DB_HOST", "127.0.0.1"),
		Port:       valueOr(get, "DB_PORT", "3306"),
		Database:   get("DB_DATABASE"),
		Username:   get("DB_USERNAME"),
		Password:   get("DB_PASSWORD"),
		Socket:     get("DB_SOCKET"),
		SSLCA:      get("MYSQL_ATTR_SSL_CA"),
		TimeZone:   get("APP_TIMEZONE"),
	}
	switch {
	case c.Connection == "":
		return Config{}, fmt.Errorf("%w: %s sets no DB_CONNECTION; want mysql or mariadb", ErrInvalid, name)
	case c.Connection != "mysql" && c.Connection != "mariadb":
		return Config{}, fmt.Errorf("%w: %s has DB_CONNECTION=%s; sessaudit needs mysql or mariadb", ErrInvalid, name, quoteShort(c.Connection))
	case get("DB_URL") != "":
		// Laravel lets DB_URL override the other variables; its format
		// is not the driver's, so refuse rather than connect elsewhere.
		return Config{}, fmt.Errorf("%w: %s sets DB_URL, which sessaudit does not read; pass --dsn instead", ErrInvalid, name)
	case c.Database == "":
		return Config{}, fmt.Errorf("%w: %s sets no DB_DATABASE", ErrInvalid, name)
	case c.Username == "":
		return Config{}, fmt.Errorf("%w: %s sets no DB_USERNAME", ErrInvalid, name)
	}
	return c, nil
}

func valueOr(get func(string) string, key, fallback string) string {
	if v := get(key); v != "" {
		return v
	}
	return fallback
}

// quoteShort quotes a value that is not secret for an error message.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// DSN returns the go-sql-driver/mysql DSN of c: over DB_SOCKET when set,
// else over TCP to DB_HOST:DB_PORT.
func (c Config) DSN() string {
	mc := mysql.NewConfig()
	mc.User = c.Username
	mc.Passwd = c.Password
	mc.DBName = c.Database
	if c.Socket != "" {
		mc.Net, mc.Addr = "unix", c.Socket
	} else {
		mc.Net, mc.Addr = "tcp", net.JoinHostPort(strings.Trim(c.Host, "[]"), c.Port)
	}
	return mc.FormatDSN()
}

// String describes c without the password, for logs.
func (c Config) String() string {
	where := "tcp(" + net.JoinHostPort(strings.Trim(c.Host, "[]"), c.Port) + ")"
	if c.Socket != "" {
		where = "unix(" + c.Socket + ")"
	}
	return fmt.Sprintf("%s %s@%s/%s", c.Connection, c.Username, where, c.Database)
}
