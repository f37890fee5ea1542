package scanner_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
	"sessaudit/scanner/scantest"
)

// benchSpec is a ~17k-entry tree: 20 sessions, 14 Chromium-style of 1000
// files and 6 Baileys folders of 300. Files are tiny: their contents do not
// matter to a walk, only their number.
var benchSpec = scantest.Spec{
	Workspaces: 4, SessionsPerWorkspace: 5,
	ChromiumFiles: 1000, BaileysFiles: 300, BaileysRatio: 0.3,
	Seed: 1, SizeScale: 0.01,
}

// benchSlowSpec is a ~2k-entry tree for walks that pay a delay per
// operation.
var benchSlowSpec = scantest.Spec{
	Workspaces: 2, SessionsPerWorkspace: 2,
	ChromiumFiles: 400, BaileysFiles: 200, BaileysRatio: 0.25,
	Seed: 1, SizeScale: 0.01,
}

// BenchmarkWalk walks generated trees on an in-memory filesystem, on the
// real filesystem (warm cache) natively and through afero, and through
// faultfs with 1 ms added to every metadata operation, as a network
// filesystem would. It reports entries walked per second; the slow case also
// reports metadata round trips per walk.
func BenchmarkWalk(b *testing.B) {
	b.Run("memmap", func(b *testing.B) {
		fsys := afero.NewMemMapFs()
		st := benchTree(b, fsys, "/tree", benchSpec)
		benchWalk(b, fsys, "/tree", st)
	})
	b.Run("osfs", func(b *testing.B) {
		root := b.TempDir()
		fsys := afero.NewOsFs()
		st := benchTree(b, fsys, root, benchSpec)
		benchWalk(b, fsys, root, st)
	})
	b.Run("osfs-afero", func(b *testing.B) {
		root := b.TempDir()
		st := benchTree(b, afero.NewOsFs(), root, benchSpec)
		benchWalk(b, aferoOsFs{afero.NewOsFs()}, root, st)
	})
	b.Run("faultfs-1ms", func(b *testing.B) {
		base := afero.NewMemMapFs()
		st := benchTree(b, base, "/tree", benchSlowSpec)
		fsys := faultfs.New(base, faultfs.Rule{Ops: faultfs.Metadata, Delay: time.Millisecond})
		before := fsys.Counts().RoundTrips()
		benchWalk(b, fsys, "/tree", st)
		b.ReportMetric(float64(fsys.Counts().RoundTrips()-before)/float64(b.N), "roundtrips/op")
	})
}

func benchTree(b *testing.B, fsys afero.Fs, root string, spec scantest.Spec) scantest.Stats {
	b.Helper()
	st, err := scantest.Generate(fsys, root, spec)
	if err != nil {
		b.Fatal(err)
	}
	// A tree written moments ago is looked at twice (FileSettle): the
	// benchmark walks one at rest, as a share mostly is.
	time.Sleep(scanner.Quiet)
	return st
}

// benchWalk walks root b.N times, checking each walk found every file.
func benchWalk(b *testing.B, fsys afero.Fs, root string, st scantest.Stats) {
	b.Helper()
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		var files, sessions atomic.Int64
		err := scanner.Walk(ctx, fsys, root, scanner.Config{}, func(e scanner.Entry) error {
			if e.Kind == scanner.KindSession && e.Err == nil {
				sessions.Add(1)
				files.Add(e.Usage.Files)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if files.Load() != st.Files || sessions.Load() != st.Sessions {
			b.Fatalf("walk found %d files in %d sessions, want %d in %d", files.Load(), sessions.Load(), st.Files, st.Sessions)
		}
	}
	b.ReportMetric(float64(st.Entries())*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
