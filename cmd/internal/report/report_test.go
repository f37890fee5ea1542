package report_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessaudit/cmd/internal/report"
	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/... -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test ./cmd/... -update if the change is meant):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// sampleReport has every part the text report prints: an incomplete run
// with rows changed meanwhile, instances, findings of several kinds, and
// two names that differ only in bytes that are not UTF-8.
func sampleReport() *reconcile.Report {
	started := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	outcomes := map[reconcile.Outcome]int{}
	for _, o := range reconcile.Outcomes() {
		outcomes[o] = 0
	}
	outcomes[reconcile.Verified] = 3
	outcomes[reconcile.Missing] = 1
	outcomes[reconcile.Orphan] = 2
	outcomes[reconcile.UnsafePath] = 1
	outcomes[reconcile.Recent] = 2
	return &reconcile.Report{
		Summary: reconcile.Summary{
			Complete: false, Error: "write sizes: context canceled", Root: "/srv/share", PathPrefix: "/mnt/efs",
			Scope: "workspaces 1, 2, 99", Workspaces: []uint64{1, 2, 99},
			Warnings:  []string{"a warning an operator should read"},
			StartedAt: started, FinishedAt: started.Add(1500 * time.Millisecond), DurationSeconds: 1.5, FSOps: 1230,
			Phases:   &reconcile.Phases{Check: 0.012, Rows: 0.2, Walk: 0.9, Judge: 0.188, Write: 0.2},
			Sessions: 5, Files: 42, Bytes: 3 << 20, AllocatedBytes: 4 << 20, MeteredBytes: 5 << 20,
			Rows: 6, LiveRows: 5, Outcomes: outcomes, Findings: 4, RowsWritten: 2, RowsChanged: 1,
			Instances: []reconcile.InstanceSummary{
				{Instance: "0", Rows: 3, Sessions: 3, Bytes: 2 << 20, MeteredBytes: 3 << 20, Findings: 1},
				{Instance: "unassigned", Sessions: 2, Bytes: 1 << 20, MeteredBytes: 2 << 20, Findings: 3},
			},
		},
		Findings: []reconcile.Finding{
			{Kind: reconcile.Missing, Path: "workspace_1/session_gone", WorkspaceID: ptr[uint64](1), RowIDs: []uint64{3}, Instance: ptr(0), Detail: "no such directory"},
			{Kind: reconcile.Orphan, Path: "workspace_2/session_\xfe\xff", WorkspaceID: ptr[uint64](2), RowIDs: []uint64{}, SizeBytes: ptr[int64](1536), Files: ptr[int64](1), Detail: "no row refers to it"},
			{Kind: reconcile.Orphan, Path: "workspace_2/session_\xff\xfe", WorkspaceID: ptr[uint64](2), RowIDs: []uint64{}, SizeBytes: ptr[int64](3), Files: ptr[int64](1), Detail: "no row refers to it"},
			{Kind: reconcile.UnsafePath, RowIDs: []uint64{9, 10}, Detail: "stored path has a .. element"},
		},
		Recent: []reconcile.Finding{
			{Kind: reconcile.Recent, Path: "workspace_1/session_new", WorkspaceID: ptr[uint64](1), RowIDs: []uint64{}, SizeBytes: ptr[int64](10), Detail: "changed within the grace period"},
			{Kind: reconcile.Recent, Path: "workspace_2/session_fresh", WorkspaceID: ptr[uint64](2), RowIDs: []uint64{11}, Detail: "row changed within the grace period"},
		},
	}
}

func TestAuditTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditText(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.golden", b.Bytes())
}

// A run under a time budget says what it sized, what it deferred and how
// stale that left the rows (the HTML report's budget panel says the same).
func TestAuditTextBudgetGolden(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditText(&b, budgetReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit_budget.golden", b.Bytes())
}

func TestAuditTextNoFindings(t *testing.T) {
	rep := &reconcile.Report{Summary: reconcile.Summary{Complete: true, DryRun: true, Root: "/r", PathPrefix: "/mnt/efs"}}
	var b bytes.Buffer
	if err := report.AuditText(&b, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit_clean.golden", b.Bytes())
}

// Two names that differ only in invalid bytes print as the same "path"
// (U+FFFD for each byte) but keep their exact bytes in "path_base64"; a
// valid path has no path_base64.
func TestAuditJSONPathsLossless(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary  map[string]any `json:"summary"`
		Findings []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if doc.Summary["root"] != "/srv/share" || doc.Summary["rows_changed_meanwhile"] != 1.0 {
		t.Errorf("summary: %v", doc.Summary)
	}
	want := []struct{ path, base64 string }{
		{"workspace_1/session_gone", ""},
		{"workspace_2/session_\uFFFD\uFFFD", base64.StdEncoding.EncodeToString([]byte("workspace_2/session_\xfe\xff"))},
		{"workspace_2/session_\uFFFD\uFFFD", base64.StdEncoding.EncodeToString([]byte("workspace_2/session_\xff\xfe"))},
		{"", ""},
	}
	if len(doc.Findings) != len(want) {
		t.Fatalf("%d findings, want %d\n%s", len(doc.Findings), len(want), b.String())
	}
	for i, w := range want {
		f := doc.Findings[i]
		path, _ := f["path"].(string)
		b64, has := f["path_base64"].(string)
		if path != w.path || b64 != w.base64 || has != (w.base64 != "") {
			t.Errorf("finding %d: path %q path_base64 %q (present %v), want %q %q", i, path, b64, has, w.path, w.base64)
		}
		if has {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || string(raw) != sampleReport().Findings[i].Path {
				t.Errorf("finding %d: path_base64 decodes to %q, %v", i, raw, err)
			}
		}
	}
	// The rest of a finding is the reconcile.Finding it came from.
	var rep reconcile.Report
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if f := rep.Findings[1]; f.Kind != reconcile.Orphan || *f.SizeBytes != 1536 || *f.WorkspaceID != 2 || f.Detail != "no row refers to it" {
		t.Errorf("finding 1 read back as %+v", f)
	}
}

func TestScanLine(t *testing.T) {
	tests := []struct {
		name  string
		entry scanner.Entry
		want  string
	}{
		{"measured", scanner.Entry{Kind: scanner.KindSession, Path: "workspace_1/session_a", WorkspaceID: 1, SessionID: "a",
			Usage: scanner.Usage{Size: 10, Allocated: 4096, Metered: 6144, Files: 1}},
			`{"path":"workspace_1/session_a","workspace_id":1,"session":"a","size_bytes":10,"allocated_bytes":4096,"metered_bytes":6144,"files":1}`},
		{"unreadable", scanner.Entry{Kind: scanner.KindSession, Path: "workspace_1/session_b", WorkspaceID: 1, SessionID: "b",
			Err: errors.New("open workspace_1/session_b:\npermission denied")},
			`{"path":"workspace_1/session_b","workspace_id":1,"session":"b","error":"open workspace_1/session_b: permission denied"}`},
		{"changed while measured", scanner.Entry{Kind: scanner.KindSession, Path: "workspace_1/session_c", WorkspaceID: 1, SessionID: "c",
			Usage: scanner.Usage{Size: 10, Allocated: 4096, Metered: 6144, Files: 1}, Changed: "an entry vanished while it was measured"},
			`{"path":"workspace_1/session_c","workspace_id":1,"session":"c","size_bytes":10,"allocated_bytes":4096,"metered_bytes":6144,"files":1,"changed":"an entry vanished while it was measured"}`},
		{"with its anatomy", scanner.Entry{Kind: scanner.KindSession, Path: "workspace_1/session_d", WorkspaceID: 1, SessionID: "d",
			Usage:   scanner.Usage{Size: 30, Allocated: 12288, Metered: 14336, Files: 3},
			Anatomy: scanner.Anatomy{Kind: anatomy.Baileys, Creds: 10, Keys: map[string]scanner.Usage{"pre-key": {Size: 20, Files: 2}}}},
			`{"path":"workspace_1/session_d","workspace_id":1,"session":"d","size_bytes":30,"allocated_bytes":12288,"metered_bytes":14336,"files":3,"kind":"baileys","regenerable_bytes":0,"key_files":{"pre-key":{"files":2,"bytes":20}}}`},
		{"invalid UTF-8", scanner.Entry{Kind: scanner.KindSession, Path: "workspace_1/session_\xff\xfe", WorkspaceID: 1, SessionID: "\xff\xfe"},
			`{"path":"workspace_1/session_\ufffd\ufffd","path_base64":"d29ya3NwYWNlXzEvc2Vzc2lvbl///g==","workspace_id":1,"session":"\ufffd\ufffd","size_bytes":0,"allocated_bytes":0,"metered_bytes":0,"files":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := report.ScanLine(&b, tc.entry); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSuffix(b.String(), "\n"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestScanTableGolden(t *testing.T) {
	sessions := []scanner.Entry{
		{Kind: scanner.KindSession, Path: "workspace_2/session_\xff", Usage: scanner.Usage{Size: 3, Allocated: 4096, Metered: 6144, Files: 1}},
		{Kind: scanner.KindSession, Path: "workspace_1/session_a", Usage: scanner.Usage{Size: 9245, Allocated: 24576, Metered: 53248, Files: 5}},
		{Kind: scanner.KindSession, Path: "workspace_1/session_b", Err: errors.New("open: permission denied")},
		{Kind: scanner.KindSession, Path: "workspace_1/session_c", Usage: scanner.Usage{Size: 4096, Allocated: 4096, Metered: 6144, Files: 1},
			Changed: "a file in it kept being rewritten while it was measured"},
	}
	others := []scanner.Entry{
		{Kind: scanner.KindUnrecognized, Path: "lost+found", Reason: "not workspace_<id>"},
		{Kind: scanner.KindWorkspaceError, Path: "workspace_3", Err: errors.New("read dir: input/output error")},
	}
	var b bytes.Buffer
	if err := report.ScanTable(&b, sessions, others); err != nil {
		t.Fatal(err)
	}
	golden(t, "scan.golden", b.Bytes())
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", -2048: "-2.0 KiB"} {
		if got := report.HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
