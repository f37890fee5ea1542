package dbtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"
	"github.com/sirupsen/logrus"
)

// ErrBadName is returned for a database name that is not a plain identifier.
var ErrBadName = errors.New("dbtest: database name must match [A-Za-z0-9_$]+")

var identRe = regexp.MustCompile(`^[A-Za-z0-9_$]+$`)

// Server is an embedded go-mysql-server holding its databases in memory,
// listening on a free port of 127.0.0.1. Any user name and password are
// accepted.
type Server struct {
	srv    *server.Server
	addr   string
	dbName string
	done   chan struct{}
}

// Start starts an embedded server with the database dbName created and
// returns once it accepts connections. ctx only bounds the start; the server
// runs until Close.
//
// go-mysql-server logs every connection at Info level, and warnings about
// its file privileges at every start, through logrus's standard logger; while
// that logger is at its default level, Start raises it to Error.
func Start(ctx context.Context, dbName string) (*Server, error) {
	if !identRe.MatchString(dbName) {
		return nil, fmt.Errorf("start embedded server %q: %w", dbName, ErrBadName)
	}
	if logrus.GetLevel() == logrus.InfoLevel {
		logrus.SetLevel(logrus.ErrorLevel)
	}

	mdb := memory.NewDatabase(dbName)
	mdb.EnablePrimaryKeyIndexes()
	pro := memory.NewDBProvider(mdb)
	pro.WithOption(memory.NativeIndexProvider(true))
	engine := sqle.NewDefault(pro)

	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for embedded server: %w", err)
	}
	cfg := server.Config{Protocol: "tcp", Address: l.Addr().String(), Listener: l}
	srv, err := server.NewServer(cfg, engine, sql.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("create embedded server: %w", err)
	}
	s := &Server{srv: srv, addr: l.Addr().String(), dbName: dbName, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Start() // returns when the listener is closed
	}()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// DSN returns a go-sql-driver/mysql DSN for the database given to Start, as
// user root without a password.
func (s *Server) DSN() string { return s.dsnFor(s.dbName) }

func (s *Server) dsnFor(dbName string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.addr
	cfg.DBName = dbName
	return cfg.FormatDSN()
}

// Close stops accepting connections and waits for the accept loop to end.
// Open connections are not waited for.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("close embedded server %s: %w", s.addr, err)
	}
	return nil
}
