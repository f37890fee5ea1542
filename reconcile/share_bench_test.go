package reconcile_test

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// BenchmarkAuditShare runs one whole audit, writes included, of an existing
// share and table: the share at $SESSAUDIT_SCALE_ROOT, the table
// whatsapp_accounts of $SESSAUDIT_SCALE_DSN, stored paths under
// $SESSAUDIT_SCALE_PREFIX (default /mnt/efs). It is the audit of `sessaudit
// audit` without the command around it, so that go test's -cpuprofile and
// -memprofile profile exactly that; .ci/bench-scale (SCALE_PROFILE=1) sets it
// up with 1,000,000 sessions and rows. Without the variables there is nothing
// to measure and it is skipped.
//
// It reports the live heap after the audit, with the report still held, as
// heap-B: what the audit keeps per session and row.
func BenchmarkAuditShare(b *testing.B) {
	root, dsn := os.Getenv("SESSAUDIT_SCALE_ROOT"), os.Getenv("SESSAUDIT_SCALE_DSN")
	if root == "" || dsn == "" {
		b.Skip("set SESSAUDIT_SCALE_ROOT and SESSAUDIT_SCALE_DSN (see .ci/bench-scale)")
	}
	prefix := os.Getenv("SESSAUDIT_SCALE_PREFIX")
	if prefix == "" {
		prefix = "/mnt/efs"
	}
	ctx := context.Background()
	store, err := db.Open(ctx, db.Config{DSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for b.Loop() {
		rep, err := reconcile.Audit(ctx, afero.NewOsFs(), store, reconcile.Config{
			Root: root, PathPrefix: prefix, MaxMissingRatio: 0.5, PerInstance: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc), "heap-B")
		b.ReportMetric(float64(rep.Summary.Sessions), "sessions")
		b.ReportMetric(float64(rep.Summary.Rows), "rows")
		runtime.KeepAlive(rep)
		b.StartTimer()
	}
}
