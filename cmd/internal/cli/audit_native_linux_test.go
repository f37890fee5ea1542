package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"
	"golang.org/x/sys/unix"

	"sessaudit/cmd/internal/cli"
	"sessaudit/cmd/internal/sample"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
	"sessaudit/scanner/faultfs"
)

// deepSession is a session directory added to the sample for the tests of
// this file, with a file so deep that its absolute path is longer than
// PATH_MAX. Only the native walker can measure it: it opens every
// directory relative to its parent's descriptor (openat), where a walk by
// path (afero, os) asks the kernel for the whole path and gets
// ENAMETOOLONG. deepFile is the file's content, the session's whole size.
const (
	deepSession = "workspace_2/session_deep"
	deepFile    = "deep"
)

// makeDeep writes deepSession under root, dated old, below a chain of
// directories whose names add up to more than PATH_MAX (4096) bytes.
func makeDeep(t *testing.T, root string, old time.Time) {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(deepSession))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 200)
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	chain := []*os.Root{r}
	defer func() {
		for _, r := range chain {
			r.Close()
		}
	}()
	for range 25 { // 25 * 201 bytes
		if err := r.Mkdir(name, 0o755); err != nil {
			t.Fatal(err)
		}
		if r, err = r.OpenRoot(name); err != nil {
			t.Fatal(err)
		}
		chain = append(chain, r)
	}
	if err := r.WriteFile(deepFile, []byte(deepFile), 0o644); err != nil {
		t.Fatal(err)
	}
	// Date everything old, so that the session is an orphan rather than
	// recent; changing a child's times leaves its parent's alone.
	if err := r.Chtimes(deepFile, old, old); err != nil {
		t.Fatal(err)
	}
	for _, r := range chain[:len(chain)-1] {
		if err := r.Chtimes(name, old, old); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// lockNatively makes the sample's locked session unreadable on the real
// filesystem, without the fault wrapper that would take the walk off the
// native path. As root, permissions deny nothing; what no one can measure
// is a size past int64, a sparse file of 8 EiB - 1, which only tmpfs
// allows. So a root run puts the share on /dev/shm; anyone else gets a
// real EACCES from chmod 000 on any filesystem. It returns the directory
// to copy the share into.
func lockNatively(t *testing.T) (dir string, lock func(root string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		return t.TempDir(), func(root string) {
			locked := filepath.Join(root, sample.LockedSession)
			if err := os.Chmod(locked, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(locked, 0o755) })
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &sfs); err != nil || sfs.Type != unix.TMPFS_MAGIC {
		t.Skipf("running as root and /dev/shm is not tmpfs (%v): no real fault can make a session unreadable", err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "sessaudit-native-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir, func(root string) {
		locked := filepath.Join(root, sample.LockedSession)
		big := filepath.Join(locked, "huge.bin")
		if err := os.WriteFile(big, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(big, math.MaxInt64); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-48 * time.Hour)
		for _, p := range []string{big, locked} {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAuditNativeEndToEnd audits the sample over a bare afero.NewOsFs(),
// the filesystem the sessaudit binary uses, so that the native Linux
// walker (chosen only for exactly *afero.OsFs) runs end to end against a
// real database: the outcomes and written sizes are the sample's.
//
// How we know the native walker ran: the share has one more session,
// deepSession, whose file lies past PATH_MAX. The native walker measures
// it (an orphan of 4 bytes); a walk by path cannot (ENAMETOOLONG: the
// session would be unreadable). The control at the end scans the same
// share through the fault wrapper, which takes the afero path, and checks
// that it indeed cannot measure the session, so the observation does tell
// the two walkers apart. No hook in the production code is needed.
func TestAuditNativeEndToEnd(t *testing.T) {
	dir, lock := lockNatively(t)
	t.Logf("database backend: %s", dbtest.Backend())
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	schema, err := dbtest.SchemaPath()
	if err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Dir(schema)
	if err := sample.Load(context.Background(), dsn, filepath.Join(testdata, "sample", "rows.sql")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "share")
	clock := aheadClock(sampleAhead)
	now := clock()
	if err := sample.CopyShare(filepath.Join(testdata, "sample", "share"), root, now); err != nil {
		t.Fatal(err)
	}
	if err := sample.Fresh(context.Background(), dsn, root, now); err != nil {
		t.Fatal(err)
	}
	lock(root)
	makeDeep(t, root, now.Add(-48*time.Hour))

	before := dump(t, dsn)
	res := runAt(t, clock, afero.NewOsFs(), "audit", "--root", root, "--path-prefix", "/mnt/efs", "--dsn", dsn,
		"--format", "json", "--log-level", "warn")
	if res.code != cli.ExitFindings {
		t.Fatalf("exit %d, want 1\nstderr: %s", res.code, res.stderr)
	}
	var rep reconcile.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, res.stdout)
	}
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fmt.Sprintf("%s %s %v", fd.Kind, fd.Path, fd.RowIDs))
	}
	sort.Strings(got)
	// The sample's findings and outcomes, and deepSession, one more orphan.
	want := append(sampleFindings(), "orphan "+deepSession+" []")
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	wantCounts := sampleOutcomes()
	wantCounts[reconcile.Orphan]++
	for o, n := range wantCounts {
		if rep.Summary.Outcomes[o] != n {
			t.Errorf("outcome %s: %d, want %d", o, rep.Summary.Outcomes[o], n)
		}
	}
	if rep.Summary.RowsWritten != 2 || !rep.Summary.Complete {
		t.Errorf("summary: %+v", rep.Summary)
	}
	for _, fd := range rep.Findings {
		if fd.Path == deepSession && (fd.SizeBytes == nil || *fd.SizeBytes != int64(len(deepFile))) {
			t.Errorf("%s: %+v; want %d bytes, measured past PATH_MAX by the native walker", deepSession, fd, len(deepFile))
		}
	}
	// Rows 1 and 2 got the sample's sizes; every other row, the unreadable
	// session's 12 among them, is untouched.
	after := dump(t, dsn)
	for id, rec := range before {
		if id != "1" && id != "2" && !slices.Equal(after[id], rec) {
			t.Errorf("row %s changed:\n%q\n%q", id, rec, after[id])
		}
	}
	conn := open(t, dsn)
	for id, size := range map[int]int64{1: 9245, 2: 396} {
		var got int64
		if err := conn.QueryRow("SELECT session_file_size_bytes FROM whatsapp_accounts WHERE id = ?", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != size {
			t.Errorf("row %d: size %d, want %d", id, got, size)
		}
	}

	// The control: the same share walked by path (the fault wrapper, no
	// faults) cannot measure deepSession.
	res = run(t, faultfs.New(afero.NewOsFs()), "scan", "--root", root, "--format", "json", "--workspace", "2", "--log-level", "error")
	var byPath map[string]string
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var r struct{ Path, Error string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if byPath == nil {
			byPath = map[string]string{}
		}
		byPath[r.Path] = r.Error
	}
	if msg, ok := byPath[deepSession]; !ok || !strings.Contains(msg, "file name too long") {
		t.Errorf("control: the afero walk reports %s with error %q; want ENAMETOOLONG, or this test proves nothing about which walker ran", deepSession, msg)
	}
}
