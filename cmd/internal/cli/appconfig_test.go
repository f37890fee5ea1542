package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
)

// appEnv is the application's DB_* variables for dsn, as a pod's
// environment holds them.
func appEnv(t *testing.T, dsn string) map[string]string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	mustDo(t, err)
	host, port, err := net.SplitHostPort(cfg.Addr)
	mustDo(t, err)
	return map[string]string{"DB_CONNECTION": "mysql", "DB_HOST": host, "DB_PORT": port,
		"DB_DATABASE": cfg.DBName, "DB_USERNAME": cfg.User, "DB_PASSWORD": cfg.Passwd}
}

// Issue 18, an operator's trial: the application's DB_* are read from the
// process environment as Laravel reads them on Kubernetes: alone, or
// winning over the .env file's lines.
func TestConnectionFromTheEnvironment(t *testing.T) {
	f := newFixture(t)
	env := appEnv(t, f.dsn)
	t.Run("the environment alone", func(t *testing.T) {
		res := runEnv(t, f.fsys, env, nil, "audit", "--root", f.root, "--dry-run", "--log-level", "error")
		if res.code != cli.ExitFindings {
			t.Errorf("audit with DB_* in the environment: exit %d, want 1\n%s", res.code, res.stderr)
		}
	})
	t.Run("the environment wins over the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), ".env")
		mustDo(t, os.WriteFile(file, []byte("DB_CONNECTION=mysql\nDB_HOST=192.0.2.1\nDB_DATABASE=elsewhere\nDB_USERNAME=nobody\n"), 0o600))
		res := runEnv(t, f.fsys, env, nil, "audit", "--root", f.root, "--laravel-env", file, "--dry-run", "--log-level", "error")
		if res.code != cli.ExitFindings {
			t.Errorf("audit by --laravel-env under DB_* in the environment: exit %d, want 1\n%s", res.code, res.stderr)
		}
	})
	t.Run("nothing names a database", func(t *testing.T) {
		res := runEnv(t, f.fsys, nil, nil, "audit", "--root", f.root)
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "DB_* in the environment") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

// Issue 18, an operator's trial: APP_TIMEZONE was ignored, and rows were
// written 9 hours off for Asia/Tokyo. It is --db-time-zone's default when
// the application's configuration gives the connection.
func TestAppTimezoneIsTheDefault(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	mustDo(t, err)
	for _, tc := range []struct {
		name  string
		flags []string
		zone  *time.Location
	}{
		{"APP_TIMEZONE", nil, tokyo},
		{"--db-time-zone wins", []string{"--db-time-zone", "UTC"}, time.UTC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			env := appEnv(t, f.dsn)
			env["APP_TIMEZONE"] = "Asia/Tokyo"
			res := runEnv(t, f.fsys, env, nil, append([]string{"audit", "--root", f.root, "--log-level", "error"}, tc.flags...)...)
			if res.code != cli.ExitFindings {
				t.Fatalf("exit %d\n%s", res.code, res.stderr)
			}
			// The wall time written, read as it is stored.
			var got time.Time
			mustDo(t, open(t, f.dsn).QueryRow("SELECT MAX(session_storage_verified_at) FROM whatsapp_accounts").Scan(&got))
			now := time.Now().In(tc.zone)
			want := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), now.Minute(), now.Second(), 0, time.UTC)
			if d := want.Sub(got); d < -time.Minute || d > 5*time.Minute {
				t.Errorf("verified at %s, want about %s (now in %s)", got.Format(time.DateTime), want.Format(time.DateTime), tc.zone)
			}
		})
	}
}

// writeCA writes a self-signed CA certificate and its key as PEM into dir.
func writeCA(t *testing.T, dir string) (caFile string, ca *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustDo(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessaudit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	mustDo(t, err)
	ca, err = x509.ParseCertificate(der)
	mustDo(t, err)
	caFile = filepath.Join(dir, "ca.pem")
	mustDo(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	keyDER, err := x509.MarshalECPrivateKey(key)
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return caFile, ca, key
}

// readCA reads back the CA writeCA wrote into dir.
func readCA(t *testing.T, dir string) (string, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	caFile := filepath.Join(dir, "ca.pem")
	b, err := os.ReadFile(caFile)
	mustDo(t, err)
	block, _ := pem.Decode(b)
	ca, err := x509.ParseCertificate(block.Bytes)
	mustDo(t, err)
	b, err = os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	mustDo(t, err)
	block, _ = pem.Decode(b)
	key, err := x509.ParseECPrivateKey(block.Bytes)
	mustDo(t, err)
	return caFile, ca, key
}

// Issue 18, an operator's trial: a CA file for TLS, as RDS needs, by
// --db-ca-file or the application's MYSQL_ATTR_SSL_CA. Against a server
// without TLS the connection is refused rather than made in the clear.
func TestDatabaseCAFile(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	caFile, _, _ := writeCA(t, dir)
	notPEM := filepath.Join(dir, "ca.txt")
	mustDo(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o644))
	env := appEnv(t, f.dsn)
	withCA := map[string]string{"MYSQL_ATTR_SSL_CA": caFile}
	for k, v := range env {
		withCA[k] = v
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"--db-ca-file", nil, []string{"--dsn", f.dsn, "--db-ca-file", caFile}, "TLS"},
		{"MYSQL_ATTR_SSL_CA", withCA, nil, "TLS"},
		{"not PEM", nil, []string{"--dsn", f.dsn, "--db-ca-file", notPEM}, "holds no PEM certificate"},
		{"missing", nil, []string{"--dsn", f.dsn, "--db-ca-file", filepath.Join(dir, "nope.pem")}, "no such file"},
		{"and tls= in the DSN", nil, []string{"--dsn", f.dsn + "?tls=skip-verify", "--db-ca-file", caFile}, "give one or the other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runEnv(t, f.fsys, tc.env, nil, append([]string{"audit", "--root", f.root, "--dry-run", "--log-level", "error"}, tc.args...)...)
			if res.code != cli.ExitFailed || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want 2 saying %q", res.code, res.stderr, tc.want)
			}
		})
	}

	// A server with TLS, its certificate signed by the CA: the audit
	// connects with the CA, and refuses with another CA, so the
	// certificate was verified.
	t.Run("a server with TLS", func(t *testing.T) {
		certFile, keyFile := writeServerCert(t, dir, caFile)
		dsn := dbtest.PrivateMariaDB(t, "--ssl-ca="+caFile, "--ssl-cert="+certFile, "--ssl-key="+keyFile)
		dbtest.LoadSchema(t, dsn)
		res := f.run(t, "audit", "--root", f.root, "--dsn", dsn, "--db-ca-file", caFile, "--dry-run", "--log-level", "error")
		if res.code == cli.ExitFailed {
			t.Fatalf("audit over TLS: exit %d\n%s", res.code, res.stderr)
		}
		otherCA, _, _ := writeCA(t, t.TempDir())
		res = f.run(t, "audit", "--root", f.root, "--dsn", dsn, "--db-ca-file", otherCA, "--dry-run", "--log-level", "error")
		if res.code != cli.ExitFailed || !strings.Contains(res.stderr, "certificate") {
			t.Errorf("audit with another CA: exit %d, stderr %q: want 2 and a certificate error", res.code, res.stderr)
		}
	})
}

// writeServerCert writes a certificate for localhost signed by the CA of
// writeCA in dir, and its key, as PEM.
func writeServerCert(t *testing.T, dir, caFile string) (certFile, keyFile string) {
	t.Helper()
	_, ca, caKey := readCA(t, dir)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustDo(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	mustDo(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	mustDo(t, err)
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	mustDo(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	mustDo(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
