package laravelenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/joho/godotenv"
)

// ErrInvalid reports a .env file that does not name a usable MySQL or
// MariaDB connection.
var ErrInvalid = errors.New("laravelenv: no usable database connection")

// Config is the database connection of a Laravel application, as its
// config/database.php builds the mysql and mariadb connections from the
// environment.
type Config struct {
	Connection string // DB_CONNECTION: mysql or mariadb
	Host       string // DB_HOST, default 127.0.0.1
	Port       string // DB_PORT, default 3306
	Database   string // DB_DATABASE
	Username   string // DB_USERNAME
	Password   string // DB_PASSWORD, default empty
	Socket     string // DB_SOCKET: a Unix socket, used instead of host and port when set
}

// Read reads the .env file at path. Only the file is read, not the process
// environment; ${VAR} refers to variables of the file, as in Laravel.
func Read(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read laravel env: %w", err)
	}
	return Parse(path, data)
}

// Parse parses the contents of a .env file; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	env, err := godotenv.Parse(bytes.NewReader(data))
	if err != nil {
		// godotenv's message quotes the text it stopped at, which may be
		// the password.
		return Config{}, fmt.Errorf("%w: %s is not a valid .env file (check its quoting)", ErrInvalid, name)
	}
	c := Config{
		Connection: env["DB_CONNECTION"],
		Host:       valueOr(env, "DB_HOST", "127.0.0.1"),
		Port:       valueOr(env, "DB_PORT", "3306"),
		Database:   env["DB_DATABASE"],
		Username:   env["DB_USERNAME"],
		Password:   env["DB_PASSWORD"],
		Socket:     env["DB_SOCKET"],
	}
	switch {
	case c.Connection == "":
		return Config{}, fmt.Errorf("%w: %s sets no DB_CONNECTION; want mysql or mariadb", ErrInvalid, name)
	case c.Connection != "mysql" && c.Connection != "mariadb":
		return Config{}, fmt.Errorf("%w: %s has DB_CONNECTION=%s; sessaudit needs mysql or mariadb", ErrInvalid, name, quoteShort(c.Connection))
	case env["DB_URL"] != "":
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

func valueOr(env map[string]string, key, fallback string) string {
	if v := env[key]; v != "" {
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
