package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"sessaudit/db"
	"sessaudit/reconcile"
)

// goodCreds is a creds.json as Baileys' initAuthCreds makes it, cut down to
// the keys a session is restored with.
const goodCreds = `{"noiseKey":{"private":"a","public":"b"},"signedIdentityKey":{"private":"c","public":"d"},"signedPreKey":{"keyId":1},"registrationId":42}`

// anatomyFindings returns the incomplete and bloated findings of rep,
// "kind path: detail".
func anatomyFindings(rep *reconcile.Report) map[string]string {
	out := map[string]string{}
	for _, f := range rep.Findings {
		if f.Kind == reconcile.Incomplete || f.Kind == reconcile.Bloated {
			out[string(f.Kind)+" "+f.Path] = f.Detail
		}
	}
	return out
}

func TestAuditAnatomyFindings(t *testing.T) {
	files := map[string]string{
		// Sound sessions of both kinds.
		"workspace_1/session_web/Default/IndexedDB/x.leveldb/CURRENT":   "1",
		"workspace_1/session_web/Default/Local Storage/leveldb/CURRENT": "1",
		"workspace_1/session_web/Default/Cache/Cache_Data/data_1":       strings.Repeat("c", 100),
		"workspace_1/session_bai/creds.json":                            goodCreds,
		"workspace_1/session_bai/pre-key-1.json":                        "{}",
		// Broken ones.
		"workspace_1/session_noidb/Default/Local Storage/leveldb/CURRENT": "1",
		"workspace_1/session_noidb/Local State":                           "{}",
		"workspace_1/session_nocreds/pre-key-1.json":                      "{}",
		"workspace_1/session_empty/creds.json":                            "",
		"workspace_1/session_truncated/creds.json":                        goodCreds[:40],
		"workspace_1/session_nokeys/creds.json":                           `{"me":{"id":"1"}}`,
		// Bloated: a cache over 64 bytes, 3 key files or more.
		"workspace_2/session_cache/Default/IndexedDB/x/CURRENT":     "1",
		"workspace_2/session_cache/Default/Local Storage/x/CURRENT": "1",
		"workspace_2/session_cache/Default/Code Cache/js/index":     strings.Repeat("j", 200),
		"workspace_2/session_keys/creds.json":                       goodCreds,
		"workspace_2/session_keys/pre-key-1.json":                   "{}",
		"workspace_2/session_keys/pre-key-2.json":                   "{}",
		"workspace_2/session_keys/session-1.0.json":                 "{}",
		// Neither kind: nothing to judge.
		"workspace_2/session_other/notes.txt": "x",
		"workspace_2/session_none/":           "",
	}
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, files)
	var rows []db.Row
	id := uint64(1)
	for p := range files {
		dir := strings.Join(strings.Split(p, "/")[:2], "/")
		ws, sid := uint64(1), strings.TrimPrefix(strings.Split(dir, "/")[1], "session_")
		if strings.HasPrefix(dir, "workspace_2") {
			ws = 2
		}
		if !containsRow(rows, sid) {
			rows = append(rows, live(id, ws, sid, str("/mnt/efs/"+dir)))
			id++
		}
	}
	rep := audit(t, fsys, &fakeStore{rows: rows}, func(c *reconcile.Config) {
		c.Bloat = reconcile.Bloat{KeyFiles: 3, CacheBytes: 150}
	})
	got := anatomyFindings(rep)
	want := map[string]string{
		"incomplete workspace_1/session_noidb":     "without Default/IndexedDB",
		"incomplete workspace_1/session_nocreds":   "without creds.json",
		"incomplete workspace_1/session_empty":     "creds.json is empty",
		"incomplete workspace_1/session_truncated": "is not a JSON object (40 bytes: unexpected end of JSON input)",
		"incomplete workspace_1/session_nokeys":    "lacks noiseKey and signedIdentityKey",
		"bloated workspace_2/session_cache":        "200 B of regenerable Chromium cache",
		"bloated workspace_2/session_keys":         "3 Baileys key files (2 of them pre-keys)",
	}
	for k, sub := range want {
		if !strings.Contains(got[k], sub) {
			t.Errorf("%s: detail %q, want it to say %q", k, got[k], sub)
		}
	}
	for k, detail := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected finding %s: %s", k, detail)
		}
	}
	if n := rep.Summary.Outcomes[reconcile.Incomplete]; n != 5 {
		t.Errorf("%d incomplete counted, want 5", n)
	}
	for _, f := range rep.Findings {
		if f.Kind == reconcile.Bloated && f.Path == "workspace_2/session_cache" && (f.ReclaimableBytes == nil || *f.ReclaimableBytes != 200) {
			t.Errorf("bloated webjs session: reclaimable %v, want 200", f.ReclaimableBytes)
		}
		if f.Kind == reconcile.Incomplete && (f.SizeBytes == nil || len(f.RowIDs) != 1) {
			t.Errorf("%s %s: size %v, rows %v; want its size and row", f.Kind, f.Path, f.SizeBytes, f.RowIDs)
		}
	}
	// The rows of sessions incomplete or bloated are verified all the same.
	if v := rep.Summary.Outcomes[reconcile.Verified]; v != len(rows) {
		t.Errorf("%d verified, want %d: %v", v, len(rows), fmt.Sprint(rep.Summary.Outcomes))
	}
}

func containsRow(rows []db.Row, sid string) bool {
	for _, r := range rows {
		if r.SessionID == sid {
			return true
		}
	}
	return false
}

// A session written within the grace period is never judged incomplete or
// bloated: Baileys rewrites creds.json in place, and a profile being
// created has no IndexedDB yet.
func TestAuditAnatomyYoung(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_empty/creds.json":      "",
		"workspace_1/session_noidb/Default/Cookies": "1",
	})
	rows := []db.Row{
		live(1, 1, "empty", str("/mnt/efs/workspace_1/session_empty")),
		live(2, 1, "noidb", str("/mnt/efs/workspace_1/session_noidb")),
	}
	rep := audit(t, fsys, &fakeStore{rows: rows}, func(c *reconcile.Config) {
		c.Now = nil // the files were written just now: within the hour of grace
		c.Bloat = reconcile.Bloat{KeyFiles: 1, CacheBytes: 1}
	})
	if got := anatomyFindings(rep); len(got) != 0 {
		t.Errorf("young sessions judged: %v", got)
	}
}

// The summary splits the sessions measured by kind, state and regenerable
// bytes, and counts Baileys key files by type; the largest sessions and
// workspaces carry the same.
func TestAuditAnatomySummary(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_web/Default/IndexedDB/x/CURRENT": "12",
		"workspace_1/session_web/Default/Cache/data_1":        "1234567890",
		"workspace_1/session_web/Local State":                 "123",
		"workspace_1/session_bai/creds.json":                  goodCreds,
		"workspace_1/session_bai/pre-key-1.json":              "1234",
		"workspace_1/session_bai/pre-key-2.json":              "1234",
		"workspace_2/session_bai/app-state-sync-key-A.json":   "12",
		"workspace_2/session_none/":                           "",
	})
	rep := audit(t, fsys, &fakeStore{}, nil)
	a := rep.Summary.Anatomy
	kinds := map[string]reconcile.KindUsage{}
	for _, k := range a.Kinds {
		kinds[string(k.Kind)] = k
	}
	if w := kinds["webjs"]; w.Sessions != 1 || w.SizeBytes != 15 || w.RegenerableBytes != 13 {
		t.Errorf("webjs: %+v; want 1 session of 15 bytes, 13 regenerable (the cache and Local State)", w)
	}
	if b := kinds["baileys"]; b.Sessions != 2 || b.KeyFiles != 3 || b.RegenerableBytes != 0 {
		t.Errorf("baileys: %+v; want 2 sessions, 3 key files, nothing regenerable", b)
	}
	if e := kinds["empty"]; e.Sessions != 1 {
		t.Errorf("empty: %+v", e)
	}
	if a.RegenerableBytes != 13 || a.StateBytes != rep.Summary.Bytes-13 {
		t.Errorf("state %d, regenerable %d of %d bytes", a.StateBytes, a.RegenerableBytes, rep.Summary.Bytes)
	}
	if k := a.KeyFiles["pre-key"]; k.Files != 2 || k.Bytes != 8 || a.KeyFiles["app-state-sync-key"].Files != 1 {
		t.Errorf("key files %+v", a.KeyFiles)
	}
	for _, s := range rep.Summary.LargestSessions {
		if s.Path == "workspace_1/session_bai" && (s.Kind != "baileys" || s.KeyFiles["pre-key"].Files != 2) {
			t.Errorf("largest session %+v", s)
		}
	}
	for _, w := range rep.Summary.LargestWorkspaces {
		if w.WorkspaceID == 1 && (w.RegenerableBytes != 13 || w.KeyFiles != 2) {
			t.Errorf("largest workspace %+v", w)
		}
	}
}

// A live row whose provider_type is meta (the Cloud API keeps no files)
// but whose directory holds a webjs or baileys session is named in the
// summary's warnings and counted; a webjs row with a Baileys session is
// not (the column has no value for Baileys).
func TestAuditAnatomyProviderType(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_metaweb/Default/IndexedDB/x/CURRENT":     "1",
		"workspace_1/session_metaweb/Default/Local Storage/x/CURRENT": "1",
		"workspace_1/session_metaempty/":                              "",
		"workspace_1/session_webbai/creds.json":                       goodCreds,
	})
	meta, webjs := "meta", "webjs"
	rows := []db.Row{
		live(1, 1, "metaweb", str("/mnt/efs/workspace_1/session_metaweb")),
		live(2, 1, "metaempty", str("/mnt/efs/workspace_1/session_metaempty")),
		live(3, 1, "webbai", str("/mnt/efs/workspace_1/session_webbai")),
	}
	rows[0].ProviderType, rows[1].ProviderType, rows[2].ProviderType = &meta, &meta, &webjs
	rep := audit(t, fsys, &fakeStore{rows: rows}, nil)
	if n := rep.Summary.Anatomy.ProviderMismatches; n != 1 {
		t.Errorf("%d provider mismatches, want 1", n)
	}
	want := "row 1 is provider_type meta, which keeps no session files, but workspace_1/session_metaweb holds a webjs session"
	if !slices.Contains(rep.Summary.Warnings, want) {
		t.Errorf("warnings %q lack %q", rep.Summary.Warnings, want)
	}
}

// Watch mode's per-session reconcile judges a session's anatomy as the
// audit does: an empty creds.json is incomplete besides the row's verified
// outcome, and a key-file count over the threshold bloated.
func TestReconcileAnatomy(t *testing.T) {
	fsys := afero.NewMemMapFs()
	writeTree(t, fsys, map[string]string{
		"workspace_1/session_a/creds.json":     "",
		"workspace_1/session_a/pre-key-1.json": "{}",
		"workspace_1/session_a/pre-key-2.json": "{}",
	})
	store := &fakeStore{rows: []db.Row{live(1, 1, "a", str("/mnt/efs/workspace_1/session_a"))}}
	r := reconcile.NewReconciler(fsys, store, reconcile.Config{Root: root, PathPrefix: "/mnt/efs", MinAge: time.Hour,
		Bloat: reconcile.Bloat{KeyFiles: 2}, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	res, err := r.Reconcile(context.Background(), "workspace_1/session_a")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range res.Verdicts {
		kinds = append(kinds, string(v.Kind))
	}
	slices.Sort(kinds)
	if want := []string{"bloated", "incomplete", "verified"}; !slices.Equal(kinds, want) {
		t.Errorf("verdicts %q, want %q", kinds, want)
	}
}
