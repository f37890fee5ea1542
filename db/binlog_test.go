package db_test

import (
	"context"
	"slices"
	"testing"

	"sessaudit/db"
	"sessaudit/db/dbtest"
)

// TestWriteSizesStatementBinlog: a server that logs statements to its
// binary log (binlog_format=STATEMENT, for replication) refuses an UPDATE
// in READ COMMITTED (error 1665), the isolation the writes of dense chunks
// run in. The writes must still be made there, and whole.
func TestWriteSizesStatementBinlog(t *testing.T) {
	dsn := dbtest.PrivateMariaDB(t, "--log-bin=binlog", "--binlog-format=STATEMENT", "--server-id=1")
	dbtest.LoadSchema(t, dsn)
	dbtest.Exec(t, dsn, faultRows)
	admin := adminDB(t, dsn)
	s := open(t, db.Config{DSN: dsn})
	n, err := s.WriteSizes(context.Background(), faultBatch, faultVerifiedAt)
	if err != nil || n != len(faultBatch) {
		t.Fatalf("WriteSizes = %d, %v; want %d, nil", n, err, len(faultBatch))
	}
	if got, want := rowStates(t, admin), []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("rows written: %v, want %v", got, want)
	}
}
