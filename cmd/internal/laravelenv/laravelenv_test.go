package laravelenv_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"sessaudit/cmd/internal/laravelenv"
)

// secret is a password no message may contain; it has every character a
// DSN or a .env file treats specially.
const secret = `Xq7!pa$$w0rd@host:3306/db?x=#"zz`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		want      mysql.Config // the fields compared: User, Passwd, Net, Addr, DBName
	}{
		{
			name: "laravel defaults for host and port",
			env:  "DB_CONNECTION=mysql\nDB_DATABASE=app\nDB_USERNAME=forge\nDB_PASSWORD=\n",
			want: mysql.Config{User: "forge", Net: "tcp", Addr: "127.0.0.1:3306", DBName: "app"},
		},
		{
			name: "mariadb, host, port and a quoted password with specials",
			env: "APP_NAME=Laravel\nDB_CONNECTION=mariadb\nDB_HOST=db.internal\nDB_PORT=3307\n" +
				"DB_DATABASE=whatsapp\nDB_USERNAME=app\nDB_PASSWORD='" + secret + "'\n",
			want: mysql.Config{User: "app", Passwd: secret, Net: "tcp", Addr: "db.internal:3307", DBName: "whatsapp"},
		},
		{
			name: "socket wins over host",
			env:  "DB_CONNECTION=mysql\nDB_HOST=db\nDB_SOCKET=/run/mysqld/mysqld.sock\nDB_DATABASE=app\nDB_USERNAME=app\nDB_PASSWORD=pw\n",
			want: mysql.Config{User: "app", Passwd: "pw", Net: "unix", Addr: "/run/mysqld/mysqld.sock", DBName: "app"},
		},
		{
			name: "IPv6 host, export, comments, ${VAR} from the file",
			env: "# comment\nexport DB_CONNECTION=mysql\nDB_HOST=::1\nNAME=wa\nDB_DATABASE=\"${NAME}_prod\" # trailing\n" +
				"DB_USERNAME=app\n",
			want: mysql.Config{User: "app", Net: "tcp", Addr: "[::1]:3306", DBName: "wa_prod"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := laravelenv.Parse(".env", []byte(tc.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mysql.ParseDSN(c.DSN())
			if err != nil {
				t.Fatalf("DSN %q does not parse: %v", c.DSN(), err)
			}
			if got.User != tc.want.User || got.Passwd != tc.want.Passwd || got.Net != tc.want.Net ||
				got.Addr != tc.want.Addr || got.DBName != tc.want.DBName {
				t.Errorf("DSN gives user %q passwd %q net %q addr %q db %q, want %q %q %q %q %q",
					got.User, got.Passwd, got.Net, got.Addr, got.DBName,
					tc.want.User, tc.want.Passwd, tc.want.Net, tc.want.Addr, tc.want.DBName)
			}
			if strings.Contains(c.String(), secret) || (tc.want.Passwd != "" && strings.Contains(c.String(), tc.want.Passwd)) {
				t.Errorf("String() shows the password: %s", c)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, env, want string
	}{
		{"no connection", "DB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD=" + secret + "\n", "sets no DB_CONNECTION"},
		{"sqlite", "DB_CONNECTION=sqlite\nDB_DATABASE=/var/db.sqlite\nDB_PASSWORD=" + secret + "\n", `DB_CONNECTION="sqlite"`},
		{"pgsql", "DB_CONNECTION=pgsql\nDB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD=" + secret + "\n", "needs mysql or mariadb"},
		{"db url", "DB_CONNECTION=mysql\nDB_URL=mysql://u:" + secret + "@h/app\n", "sets DB_URL"},
		{"no database", "DB_CONNECTION=mysql\nDB_USERNAME=u\nDB_PASSWORD=" + secret + "\n", "sets no DB_DATABASE"},
		{"no user", "DB_CONNECTION=mysql\nDB_DATABASE=app\nDB_PASSWORD=" + secret + "\n", "sets no DB_USERNAME"},
		{"unterminated quote", "DB_CONNECTION=mysql\nDB_PASSWORD=\"" + secret + "\n", "not a valid .env file"},
		{"bad name", "DB_CONNECTION=mysql\nDB-PASSWORD=" + secret + "\n", "not a valid .env file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := laravelenv.Parse("/srv/app/.env", []byte(tc.env), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, laravelenv.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/srv/app/.env") {
				t.Errorf("error %q, want it to name the file and say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "pa$$w0rd") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("DB_CONNECTION=mysql\nDB_DATABASE=app\nDB_USERNAME=u\nDB_PASSWORD='"+secret+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := laravelenv.Read(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Password != secret {
		t.Errorf("password %q, want %q", c.Password, secret)
	}
	if _, err := laravelenv.Read(filepath.Join(t.TempDir(), "missing"), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing file: %v", err)
	}
}

// Issue 18 item 16: values read as Laravel's phpdotenv reads them. Only
// ${NAME} is expanded, in unquoted and double-quoted values; $2024 and
// $NAME are kept as written (godotenv read Abc$2024 as Abc).
func TestValuesAsPhpdotenv(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"unquoted dollar digits", `DB_PASSWORD=Abc$2024`, `Abc$2024`},
		{"double-quoted dollar digits", `DB_PASSWORD="Abc$2024"`, `Abc$2024`},
		{"single-quoted dollar digits", `DB_PASSWORD='Abc$2024'`, `Abc$2024`},
		{"unquoted $NAME is not expanded", `DB_PASSWORD=pa$NAME`, `pa$NAME`},
		{"double-quoted $NAME is not expanded", `DB_PASSWORD="pa$NAME"`, `pa$NAME`},
		{"unquoted ${NAME} is expanded", `DB_PASSWORD=pa${NAME}x`, `pawax`},
		{"double-quoted ${NAME} is expanded", `DB_PASSWORD="pa${NAME}x"`, `pawax`},
		{"single-quoted ${NAME} is not", `DB_PASSWORD='pa${NAME}x'`, `pa${NAME}x`},
		{"an undefined ${NAME} stays", `DB_PASSWORD=pa${NOPE}x`, `pa${NOPE}x`},
		{"escaped dollar", `DB_PASSWORD="pa\${NAME}"`, `pa${NAME}`},
		{"escapes in double quotes", `DB_PASSWORD="a\"b\\c\td"`, "a\"b\\c\td"},
		{"backslash kept unquoted", `DB_PASSWORD=a\nb`, `a\nb`},
		{"comment after a space", `DB_PASSWORD=secret # note`, `secret`},
		{"hash starts a comment unquoted", `DB_PASSWORD=abc#def`, `abc`},
		{"hash kept quoted", `DB_PASSWORD="abc#def"`, `abc#def`},
		{"multi-line double-quoted", "DB_PASSWORD=\"line1\nline2\"", "line1\nline2"},
		{"empty", `DB_PASSWORD=`, ``},
		{"export and spaces around =", `export DB_PASSWORD = "x y"`, `x y`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := "NAME=wa\nDB_CONNECTION=mysql\nDB_DATABASE=app\nDB_USERNAME=u\n" + tc.line + "\n"
			c, err := laravelenv.Parse(".env", []byte(env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Password != tc.want {
				t.Errorf("%s: password %q, want %q", tc.line, c.Password, tc.want)
			}
		})
	}
	for _, line := range []string{`DB_PASSWORD=two words`, `DB_PASSWORD="a\qb"`, `DB_PASSWORD='open`} {
		if _, err := laravelenv.Parse(".env", []byte("DB_CONNECTION=mysql\nDB_DATABASE=app\nDB_USERNAME=u\n"+line+"\n"), nil); !errors.Is(err, laravelenv.ErrInvalid) {
			t.Errorf("%s: %v, want refused as Laravel refuses it", line, err)
		}
	}
}
