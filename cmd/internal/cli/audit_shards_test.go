package cli_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/cmd/internal/cli"
	"sessaudit/db/dbtest"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/faultfs"
	"sessaudit/scanner/scantest"
)

// TestAuditShardsMakeOneRunGenerated: on a generated share with every kind
// of row, N shard runs make exactly the findings, the outcome counts and
// the row writes of one whole run (issue 11), for N = 3 and 5. The rows'
// ids are interleaved across workspaces, so the whole run writes its rows
// with the dense statement (id BETWEEN, ELT) and each shard with the sparse
// one (id IN, CASE trees); the test checks that this holds, so both forms
// are compared.
func TestAuditShardsMakeOneRunGenerated(t *testing.T) {
	t.Logf("database backend: %s", dbtest.Backend())
	share := newGeneratedShare(t)

	wholeDSN := share.load(t)
	before := dump(t, wholeDSN)
	res, rep := share.audit(t, wholeDSN)
	if res.code != cli.ExitFindings {
		t.Fatalf("whole run: exit %d\n%s", res.code, res.stderr)
	}
	wantFindings := findingKeys(rep.Findings)
	wantOutcomes := rep.Summary.Outcomes
	wantRows := writes(before, dump(t, wholeDSN))
	t.Logf("whole run: %d rows, outcomes %v, %d rows written", rep.Summary.Rows, wantOutcomes, rep.Summary.RowsWritten)

	// The fixture must keep its cases: a change to the generator or to the
	// rules that lost one would make the comparison below weaker unnoticed.
	for _, o := range []reconcile.Outcome{
		reconcile.Verified, reconcile.Missing, reconcile.Orphan, reconcile.SoftDeleted, reconcile.Unlinked,
		reconcile.Conflict, reconcile.UnsafePath, reconcile.Unreadable, reconcile.Unrecognized,
		reconcile.NoPath, reconcile.Cleaned,
	} {
		if wantOutcomes[o] == 0 {
			t.Errorf("whole run: no %s outcome; the fixture lost a case", o)
		}
	}
	written := writtenIDs(wantRows)
	if len(written) != wantOutcomes[reconcile.Verified] || rep.Summary.RowsWritten != len(written) {
		t.Errorf("whole run: %d rows changed, %d reported written, %d verified",
			len(written), rep.Summary.RowsWritten, wantOutcomes[reconcile.Verified])
	}
	if !dense(written) {
		t.Errorf("whole run wrote ids %v: not dense, so the ELT statement is not tested", written)
	}

	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			// A row of another shard than its directory's is the case
			// sharding can get wrong; the fixture must have some.
			if !slices.ContainsFunc(rep.Findings, func(f reconcile.Finding) bool {
				return f.Kind == reconcile.Conflict && share.crossShard(f, uint64(n))
			}) {
				t.Errorf("no conflict of a row of another shard than its directory; the fixture lost a case")
			}
			dsn := share.load(t)
			initial := dump(t, dsn)
			gotFindings := map[string]int{}
			gotOutcomes := map[reconcile.Outcome]int{}
			for i := range n {
				shard := fmt.Sprintf("%d/%d", i, n)
				before := dump(t, dsn)
				res, rep := share.audit(t, dsn, "--shard", shard)
				if res.code == cli.ExitFailed {
					t.Fatalf("shard %s: exit 2\n%s", shard, res.stderr)
				}
				if rep.Summary.Shard != shard {
					t.Errorf("shard %s: summary shard %q", shard, rep.Summary.Shard)
				}
				for k, c := range findingKeys(rep.Findings) {
					gotFindings[k] += c
				}
				for o, c := range rep.Summary.Outcomes {
					gotOutcomes[o] += c
				}
				ids := writtenIDs(writes(before, dump(t, dsn)))
				if len(ids) > 1 && dense(ids) {
					t.Errorf("shard %s wrote ids %v: dense, so the CASE statement is not tested", shard, ids)
				}
			}
			if !maps.Equal(gotFindings, wantFindings) {
				t.Errorf("%d shards found\n%s\none run found\n%s", n, keyDiff(gotFindings, wantFindings), keyDiff(wantFindings, gotFindings))
			}
			if !maps.Equal(gotOutcomes, wantOutcomes) {
				t.Errorf("%d shards counted %v\none run counted %v", n, gotOutcomes, wantOutcomes)
			}
			if got := writes(initial, dump(t, dsn)); !maps.Equal(got, wantRows) {
				t.Errorf("rows after %d shards\n%s\nafter one run\n%s", n, keyDiff(got, wantRows), keyDiff(wantRows, got))
			}
		})
	}
}

// generatedShare is a share written by scantest with rows made for it: one
// live row for most sessions, and every other case spread over the
// workspaces.
type generatedShare struct {
	root string
	fsys afero.Fs
	// rows is the INSERT of the rows, loaded into a fresh database for
	// each run.
	rows string
	// workspaceOf maps a row id to its workspace_id.
	workspaceOf map[uint64]uint64
}

const (
	genWorkspaces = 40
	genSessions   = 4 // per workspace
	genSeed       = 11
)

func newGeneratedShare(t *testing.T) generatedShare {
	t.Helper()
	root := filepath.Join(t.TempDir(), "share")
	if _, err := scantest.Generate(afero.NewOsFs(), root, scantest.Spec{
		Workspaces: genWorkspaces, SessionsPerWorkspace: genSessions,
		ChromiumFiles: 6, BaileysFiles: 4, BaileysRatio: 0.3, SizeScale: 0.01, Seed: genSeed,
	}); err != nil {
		t.Fatal(err)
	}
	// Entries outside the layout, at the top and in a workspace (lost+found
	// is ignored by default: a stray directory is not).
	for _, d := range []string{"stray.d", "workspace_7/tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	written := time.Now()

	type row struct {
		workspace uint64
		sessionID string
		path      string // "" is NULL
		deleted   bool
		provider  string
	}
	dir := func(w, s int) string { return fmt.Sprintf("/mnt/efs/workspace_%d/session_%d", w, s) }
	other := func(w int, rng *rand.Rand) int { return (w+rng.IntN(genWorkspaces-1))%genWorkspaces + 1 }
	rng := rand.New(rand.NewPCG(genSeed, 0))
	byWorkspace := make([][]row, genWorkspaces+3)
	add := func(r row) { byWorkspace[r.workspace-1] = append(byWorkspace[r.workspace-1], r) }
	extra := 0
	next := func() string { extra++; return "extra-" + strconv.Itoa(extra) }
	var unreadable string
	for w := 1; w <= genWorkspaces; w++ {
		for j := range genSessions {
			s := (w-1)*genSessions + j + 1
			own := row{workspace: uint64(w), sessionID: strconv.Itoa(s), path: dir(w, s), provider: "webjs"}
			switch u := rng.IntN(100); {
			case u < 70: // verified
				add(own)
			case u < 75: // orphan: no row
			case u < 79: // soft_deleted
				own.deleted = true
				add(own)
			case u < 83: // unlinked: no path, its conventional directory exists
				own.path = ""
				add(own)
			case u < 87: // conflict: two live rows of the workspace
				add(own)
				add(row{workspace: uint64(w), sessionID: next(), path: dir(w, s), provider: "webjs"})
			case u < 92: // conflict: a second row, of another workspace
				add(own)
				add(row{workspace: uint64(other(w, rng)), sessionID: next(), path: dir(w, s), provider: "webjs"})
			case u < 96: // conflict: the only row is of another workspace
				add(row{workspace: uint64(other(w, rng)), sessionID: next(), path: dir(w, s), provider: "webjs"})
			default: // verified next to a soft-deleted row that claimed it before
				add(own)
				add(row{workspace: uint64(w), sessionID: next(), path: dir(w, s), provider: "webjs", deleted: true})
			}
			if w == 13 && j == 1 {
				unreadable = filepath.Join(root, fmt.Sprintf("workspace_%d", w), fmt.Sprintf("session_%d", s))
			}
		}
		switch rng.IntN(6) {
		case 0: // missing
			add(row{workspace: uint64(w), sessionID: next(), path: dir(w, 1000+w), provider: "webjs"})
		case 1: // cleaned: soft-deleted, directory gone
			add(row{workspace: uint64(w), sessionID: next(), path: dir(w, 2000+w), provider: "webjs", deleted: true})
		case 2: // no_path: a Cloud API account
			add(row{workspace: uint64(w), sessionID: next(), provider: "meta"})
		case 3: // unsafe_path
			add(row{workspace: uint64(w), sessionID: next(), path: "/mnt/efs/../etc/passwd", provider: "webjs"})
		}
	}
	// Rows of workspaces with no directory at all: missing, unsafe_path.
	add(row{workspace: genWorkspaces + 1, sessionID: next(), path: dir(genWorkspaces+1, 3001), provider: "webjs"})
	add(row{workspace: genWorkspaces + 2, sessionID: next(), path: "/mnt/efs/../etc/passwd", provider: "webjs"})
	add(row{workspace: genWorkspaces + 3, sessionID: next(), path: "workspace_1/session_1", provider: "webjs"})

	// Ids are dealt to the workspaces in turn, so that a shard's rows have
	// sparse ids and the whole table's are dense.
	for _, rs := range byWorkspace {
		rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	}
	var values []string
	workspaceOf := map[uint64]uint64{}
	id := uint64(0)
	for turn := 0; ; turn++ {
		dealt := false
		for _, rs := range byWorkspace {
			if turn >= len(rs) {
				continue
			}
			dealt = true
			r := rs[turn]
			id++
			workspaceOf[id] = r.workspace
			path, deleted, size, verified := "NULL", "NULL", "NULL", "NULL"
			if r.path != "" {
				path = "'" + r.path + "'"
			}
			if r.deleted {
				deleted = "'2026-01-06 10:00:00'"
			}
			if id%3 == 0 { // measured before, with a size now stale
				size, verified = "1234", "'2026-01-05 10:00:00'"
			}
			values = append(values, fmt.Sprintf("(%d, '00000000-0000-4000-8000-%012d', %d, 0, '%s', '%s', 'connected', %s, %s, %s, 1, '2026-01-05 10:00:00', '2026-01-05 10:00:00', %s)",
				id, id, r.workspace, r.sessionID, r.provider, path, size, verified, deleted))
		}
		if !dealt {
			break
		}
	}
	rows := "INSERT INTO whatsapp_accounts\n" +
		"  (id, uuid, workspace_id, assigned_instance_index, session_id, provider_type, status,\n" +
		"   session_storage_path, session_file_size_bytes, session_storage_verified_at, created_by, created_at, updated_at, deleted_at)\n" +
		"VALUES\n  " + strings.Join(values, ",\n  ") + ";\n"

	// Every run is to measure a tree that stood: one that changed within
	// scanner.Quiet is measured again after a wait, which only the first
	// run would do.
	time.Sleep(time.Until(written.Add(scanner.Quiet + 100*time.Millisecond)))

	fsys := faultfs.New(afero.NewOsFs(), faultfs.Rule{
		Match: func(p string) bool { return p == unreadable || strings.HasPrefix(p, unreadable+"/") },
		Err:   syscall.EACCES,
	})
	return generatedShare{root: root, fsys: fsys, rows: rows, workspaceOf: workspaceOf}
}

// load returns a fresh database holding the share's rows.
func (g generatedShare) load(t *testing.T) string {
	t.Helper()
	dsn := dbtest.New(t)
	dbtest.LoadSchema(t, dsn)
	dbtest.Exec(t, dsn, g.rows)
	return dsn
}

func (g generatedShare) audit(t *testing.T, dsn string, extra ...string) (result, *reconcile.Report) {
	t.Helper()
	f := fixture{dsn: dsn, root: g.root, fsys: g.fsys}
	// The generated directories are new: no grace period.
	return f.audit(t, append([]string{"--min-age", "0s"}, extra...)...)
}

// crossShard reports whether one of the rows of f is of another of n
// shards than f's directory.
func (g generatedShare) crossShard(f reconcile.Finding, n uint64) bool {
	name, _, _ := strings.Cut(f.Path, "/")
	ws, err := strconv.ParseUint(strings.TrimPrefix(name, "workspace_"), 10, 64)
	if err != nil {
		return false
	}
	for _, id := range f.RowIDs {
		if g.workspaceOf[id]%n != ws%n {
			return true
		}
	}
	return false
}

// writes returns, by id, every column of the rows in after, with
// session_storage_verified_at reduced to whether it changed since before
// (its new value is the time of the run).
func writes(before, after map[string][]string) map[string]string {
	out := map[string]string{}
	for id, cols := range after {
		rec := slices.Clone(cols)
		for i, c := range rec {
			if strings.HasPrefix(c, "session_storage_verified_at=") {
				if i < len(before[id]) && before[id][i] == c {
					rec[i] = "session_storage_verified_at unchanged"
				} else {
					rec[i] = "session_storage_verified_at written"
				}
			}
		}
		out[id] = strings.Join(rec, " ")
	}
	return out
}

// writtenIDs returns, sorted, the ids whose verification time writes says
// was written.
func writtenIDs(rows map[string]string) []uint64 {
	var ids []uint64
	for id, rec := range rows {
		if strings.Contains(rec, "session_storage_verified_at written") {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				panic(err)
			}
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids
}

// dense is db's rule for writing a chunk with id BETWEEN: sorted ids that
// span fewer than twice as many ids as there are.
func dense(ids []uint64) bool {
	return len(ids) > 0 && ids[len(ids)-1]-ids[0] < 2*uint64(len(ids))
}

// keyDiff lists, sorted, the entries of a that b lacks or holds otherwise.
func keyDiff[V comparable](a, b map[string]V) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, fmt.Sprintf("  %s: %v", k, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
