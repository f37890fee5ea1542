package report_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sessaudit/cmd/internal/report"
	"sessaudit/reconcile"
)

// htmlReport is sampleReport with where-the-bytes-are figures and a
// soft_deleted finding, so that every part of the page shows.
func htmlReport() *reconcile.Report {
	r := sampleReport()
	s := &r.Summary
	s.Complete, s.Error = true, ""
	s.Scope = "all workspaces"
	s.Outcomes[reconcile.SoftDeleted] = 1
	s.Findings = 5
	r.Findings = append(r.Findings, reconcile.Finding{Kind: reconcile.SoftDeleted, Path: "workspace_3/session_old",
		WorkspaceID: ptr[uint64](3), RowIDs: []uint64{12}, SizeBytes: ptr[int64](700 << 10), Instance: ptr(1), Detail: "only soft-deleted rows refer to it"})
	// Findings are sorted by kind in report order.
	r.Findings[3], r.Findings[4] = r.Findings[4], r.Findings[3]
	s.LargestSessions = []reconcile.SessionUsage{
		{Path: "workspace_1/session_alice", WorkspaceID: 1, SizeBytes: 2 << 20, MeteredBytes: 3 << 20, Files: 30,
			Kind: "webjs", RegenerableBytes: 1536 << 10},
		{Path: "workspace_3/session_old", WorkspaceID: 3, SizeBytes: 700 << 10, MeteredBytes: 800 << 10, Files: 7,
			Kind: "baileys", KeyFiles: map[string]reconcile.KeyFiles{"pre-key": {Files: 5, Bytes: 600}}},
		{Path: "workspace_2/session_\xfe\xff", WorkspaceID: 2, SizeBytes: 1536, MeteredBytes: 8192, Files: 1},
	}
	s.LargestWorkspaces = []reconcile.WorkspaceUsage{
		{WorkspaceID: 1, Sessions: 2, SizeBytes: 2<<20 + 300<<10, MeteredBytes: 3 << 20, Files: 33, RegenerableBytes: 1536 << 10},
		{WorkspaceID: 3, Sessions: 1, SizeBytes: 700 << 10, MeteredBytes: 800 << 10, Files: 7},
	}
	s.WorkspacesMeasured = 3 // one more than listed: an "other workspaces" bar
	s.Anatomy = reconcile.Anatomy{
		Kinds: []reconcile.KindUsage{
			{Kind: "webjs", Sessions: 1, SizeBytes: 2 << 20, MeteredBytes: 3 << 20, RegenerableBytes: 1536 << 10},
			{Kind: "baileys", Sessions: 2, SizeBytes: 700<<10 + 1536, MeteredBytes: 808 << 10, KeyFiles: 6},
		},
		StateBytes: 512<<10 + 700<<10 + 1536, RegenerableBytes: 1536 << 10, RegenerableMeteredBytes: 2 << 20,
		KeyFiles: map[string]reconcile.KeyFiles{"pre-key": {Files: 5, Bytes: 600}, "session": {Files: 1, Bytes: 900}},
	}
	return r
}

// The HTML report draws the bytes of each kind with their regenerable part
// in a second colour at the end of the bar.
func TestAuditHTMLAnatomy(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditHTML(&b, htmlReport()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"What the sessions are made of",
		"Bytes per kind of session",
		"2.0 MiB, 1 session; 1.5 MiB regenerable",
		"; 6 key files",
		"2.3 MiB, 2 sessions; 1.5 MiB regenerable",
		`<rect class="part" x="325" y="4" width="285" height="18"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// The text report lists the largest sessions and workspaces.
func TestAuditTextLargestGolden(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditText(&b, htmlReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit_largest.golden", b.Bytes())
}

// The largest sessions keep their exact bytes in JSON too.
func TestAuditJSONLargestLossless(t *testing.T) {
	var b bytes.Buffer
	if err := report.AuditJSON(&b, htmlReport()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary struct {
			LargestSessions []struct {
				Path       string `json:"path"`
				PathBase64 string `json:"path_base64"`
				SizeBytes  int64  `json:"size_bytes"`
			} `json:"largest_sessions"`
			LargestWorkspaces []reconcile.WorkspaceUsage `json:"largest_workspaces"`
			Root              string                     `json:"root"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	ls := doc.Summary.LargestSessions
	if len(ls) != 3 || ls[0].PathBase64 != "" || ls[0].SizeBytes != 2<<20 || doc.Summary.Root != "/srv/share" {
		t.Fatalf("largest sessions %+v, root %q", ls, doc.Summary.Root)
	}
	if raw, _ := base64.StdEncoding.DecodeString(ls[2].PathBase64); string(raw) != "workspace_2/session_\xfe\xff" {
		t.Errorf("path_base64 %q does not decode to the exact name", ls[2].PathBase64)
	}
	if len(doc.Summary.LargestWorkspaces) != 2 || doc.Summary.LargestWorkspaces[0].WorkspaceID != 1 {
		t.Errorf("largest workspaces %+v", doc.Summary.LargestWorkspaces)
	}
}

func renderHTML(t *testing.T, r *reconcile.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.AuditHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAuditHTMLContent(t *testing.T) {
	page := renderHTML(t, htmlReport())
	for _, want := range []string{
		"<title>sessaudit audit of /srv/share</title>",
		`<span class="status">complete</span>`,
		"workspace_1", "1 other workspace<", // the chart's bars
		"instance 0", "unassigned",
		`aria-label="Reclaimable bytes by kind"`, "700.0 KiB, 1 directory (metered 0 B)",
		`<details id="orphan" open>`, `<details id="soft_deleted" open>`,
		`&#34;workspace_2/session_\xfe\xff&#34;`, `&#34;workspace_2/session_\xff\xfe&#34;`, // told apart
		"9, 10", "stored path has a .. element",
		// fs_ops, as in the text report: the calls and their rate.
		"<b>1,230</b><span>filesystem operations (820/s)</span>",
		// The recent ones, as in the text report: listed, not findings.
		`<details id="recent" open>`, "recent <span class=\"n\">2</span> · not findings: judged on a later run",
		"workspace_1/session_new", "changed within the grace period",
		"workspace_2/session_fresh", "row changed within the grace period",
		// The warnings, as in the text report's header.
		`<p class="panel warning"><b>Warning:</b> a warning an operator should read</p>`,
		// The phases, as in the text report's time: line.
		"time: check 12ms, rows 200ms, walk 900ms, judge 188ms, write 200ms",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url(", "http://", "https://", "<link"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must load nothing", bad)
		}
	}
}

func TestAuditHTMLEscapes(t *testing.T) {
	r := htmlReport()
	r.Summary.Root = `/srv/<b>share</b>`
	r.Findings[0].Detail = `<script>alert(1)</script>`
	page := renderHTML(t, r)
	if strings.Contains(page, "<script>") || strings.Contains(page, "<b>share") {
		t.Error("text from the report is not escaped")
	}
}

// manyFindings is a report of n orphans (and one missing row).
func manyFindings(n int) *reconcile.Report {
	r := htmlReport()
	r.Findings = r.Findings[:1] // the missing row
	for i := range n {
		r.Findings = append(r.Findings, reconcile.Finding{Kind: reconcile.Orphan, Path: fmt.Sprintf("workspace_%d/session_%06d", i%97, i),
			WorkspaceID: ptr(uint64(i % 97)), RowIDs: []uint64{}, SizeBytes: ptr[int64](4096), Detail: "no row refers to it"})
	}
	r.Summary.Outcomes[reconcile.Orphan] = n
	r.Summary.Outcomes[reconcile.SoftDeleted] = 0
	r.Summary.Outcomes[reconcile.UnsafePath] = 0
	r.Summary.Findings = n + 1
	return r
}

func TestAuditHTMLCapsTheTable(t *testing.T) {
	page := renderHTML(t, manyFindings(100_000))
	if got := strings.Count(page, "no row refers to it"); got != report.HTMLRowsPerKind {
		t.Errorf("%d orphan rows on the page, want %d", got, report.HTMLRowsPerKind)
	}
	for _, want := range []string{
		"Showing the first 1,000 of 100,000;",
		`<details id="orphan">`, // closed: too many to open by default
		"390.6 MiB, 100,000 directories (metered 0 B)",
		"<b>100,001</b><span>findings</span>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if len(page) > 1<<20 {
		t.Errorf("the page is %d bytes; capped, it should stay under 1 MiB", len(page))
	}
}

// The recent list is capped and folded as a kind of findings is, and
// absent when there is none; fs_ops shows without a rate when the run took
// no measurable time.
func TestAuditHTMLRecent(t *testing.T) {
	r := htmlReport()
	r.Recent = nil
	for i := range 2000 {
		r.Recent = append(r.Recent, reconcile.Finding{Kind: reconcile.Recent, Path: fmt.Sprintf("workspace_1/session_%04d", i),
			WorkspaceID: ptr[uint64](1), RowIDs: []uint64{}, Detail: "changed within the grace period"})
	}
	page := renderHTML(t, r)
	if got := strings.Count(page, "changed within the grace period"); got != report.HTMLRowsPerKind {
		t.Errorf("%d recent rows on the page, want %d", got, report.HTMLRowsPerKind)
	}
	for _, want := range []string{`<details id="recent">`, "Showing the first 1,000 of 2,000;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	r.Recent = nil
	r.Summary.DurationSeconds = 0
	page = renderHTML(t, r)
	if strings.Contains(page, `id="recent"`) || strings.Contains(page, "not findings") {
		t.Error("the page has a recent list with nothing recent")
	}
	if !strings.Contains(page, "<b>1,230</b><span>filesystem operations</span>") {
		t.Error("the page lacks fs_ops without a rate")
	}
}

// budgetReport is htmlReport as a run under a time budget left it.
func budgetReport() *reconcile.Report {
	r := htmlReport()
	stalest := time.Date(2026, 3, 2, 1, 0, 12, 0, time.UTC)
	r.Summary.Budget = &reconcile.Budget{MaxDurationSeconds: 600, Listed: 120_000, Sized: 41_000, Deferred: 78_500,
		StalestVerifiedAt: &stalest, NeverVerified: 3}
	r.Summary.Outcomes[reconcile.Deferred] = 78_500
	// A row the budget kept deferring past --max-unverified.
	r.Summary.Outcomes[reconcile.Unverified] = 1
	r.Summary.Findings++
	r.Summary.MaxUnverifiedSeconds = 48 * 3600
	r.Findings = append(r.Findings, reconcile.Finding{Kind: reconcile.Unverified, Path: "workspace_4/session_cold",
		WorkspaceID: ptr[uint64](4), RowIDs: []uint64{21}, Instance: ptr(0),
		Detail: "not verified for 3d 2h (since 2026-03-02T01:00:12Z): deferred: not sized in this run (time budget); its row is left as it is"})
	return r
}

// A row left unverified is counted by kind and listed with how long and
// why in each of the reports (issue 17).
func TestAuditReportsShowUnverified(t *testing.T) {
	r := budgetReport()
	var text, js bytes.Buffer
	if err := report.AuditText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := report.AuditJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	page := renderHTML(t, r)
	detail := "not verified for 3d 2h (since 2026-03-02T01:00:12Z): deferred"
	for _, c := range []struct {
		format, out string
		want        []string
	}{
		{"text", text.String(), []string{"  unverified    1  <-\n", "\nunverified (1)\n", `"workspace_4/session_cold"  rows 21  instance 0  ` + detail}},
		{"json", js.String(), []string{`"unverified": 1`, `"max_unverified_seconds": 172800`, `"kind": "unverified"`, detail}},
		{"html", page, []string{`<tr class="finding"><td>unverified</td><td class="num">1</td></tr>`, `<details id="unverified" open>`, detail}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.out, w) {
				t.Errorf("the %s report lacks %q", c.format, w)
			}
		}
	}
}

// The budget line says what the text report's says: what was sized of
// what was listed, what was deferred, and how stale that left the rows.
// A run without a budget, warnings or phases (an interrupted one) shows
// none of them.
func TestAuditHTMLBudget(t *testing.T) {
	page := renderHTML(t, budgetReport())
	want := `<p class="panel gap" id="budget"><b>Time budget 10m0s:</b> sized 41,000 of 120,000 session directories, deferred 78,500; ` +
		"stalest verified row 2026-03-02 01:00:12 UTC; 3 never verified</p>"
	if !strings.Contains(page, want) {
		t.Errorf("the page lacks %q", want)
	}

	r := budgetReport()
	r.Summary.Budget.StalestVerifiedAt, r.Summary.Budget.NeverVerified = nil, 0
	page = renderHTML(t, r)
	want = `<b>Time budget 10m0s:</b> sized 41,000 of 120,000 session directories, deferred 78,500</p>`
	if !strings.Contains(page, want) {
		t.Errorf("the page lacks %q", want)
	}

	r = htmlReport()
	r.Summary.Warnings, r.Summary.Phases = nil, nil
	page = renderHTML(t, r)
	for _, bad := range []string{`id="budget"`, "Time budget", "Warning:", "time: check"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page has %q, for a run without it", bad)
		}
	}
}

// chromium returns the path of a headless Chromium, or skips the test when
// there is none outside CI. CI installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH; .ci/run installs Debian's chromium")
	}
	t.Skip("SKIPPED: no chromium on PATH (apt-get install chromium); CI runs this test")
	return ""
}

// browse runs headless Chromium on page with args and returns its stdout.
func browse(t *testing.T, browser, page string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--hide-scrollbars"}, args...)
	cmd := exec.Command(browser, append(args, "file://"+file)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return out
}

// TestAuditHTMLInChromium opens the page in a real browser: the DOM it
// builds has the charts' bars and the tables, and the screenshot shows the
// bars in their colour.
func TestAuditHTMLInChromium(t *testing.T) {
	browser := chromium(t)
	page := renderHTML(t, budgetReport())

	dom := string(browse(t, browser, page, "--dump-dom"))
	bars := regexp.MustCompile(`<rect class="(bar|muted)"`).FindAllString(dom, -1)
	// 3 workspace bars (2 + others), 2 instances, 2 kinds of session (one
	// with its regenerable part), 2 reclaimable kinds.
	if len(bars) != 9 {
		t.Errorf("the browser's DOM has %d chart bars, want 9", len(bars))
	}
	// workspace_1 and webjs have regenerable bytes.
	if parts := strings.Count(dom, `<rect class="part"`); parts != 2 {
		t.Errorf("the browser's DOM has %d regenerable parts, want 2", parts)
	}
	for _, want := range []string{"<svg", "Largest sessions", `<details id="missing" open="">`, "session_alice",
		`<details id="recent" open="">`, "session_fresh", "filesystem operations",
		"Warning:</b> a warning an operator should read", "time: check 12ms, rows 200ms", `id="budget"`, "deferred 78,500"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the browser's DOM lacks %q", want)
		}
	}

	shot := filepath.Join(t.TempDir(), "report.png")
	browse(t, browser, page, "--window-size=1200,1400", "--screenshot="+shot)
	if keep := os.Getenv("SESSAUDIT_KEEP_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(keep, b, 0o644)
	}
	img := decodePNG(t, shot)
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 1400 {
		t.Errorf("screenshot is %v, want 1200x1400", b)
	}
	// The bars are drawn in #3b6fd8; the findings count in #c2410c.
	if n := pixels(img, 0x3b, 0x6f, 0xd8); n < 2000 {
		t.Errorf("%d pixels of the bar colour in the screenshot: the charts did not render", n)
	}
	if n := pixels(img, 0xc2, 0x41, 0x0c); n < 50 {
		t.Errorf("%d pixels of the warning colour: the findings count did not render", n)
	}
}

// TestAuditHTMLInChromiumAt100k checks that the browser lays out the capped
// page of 100,000 findings with the cap's rows.
func TestAuditHTMLInChromiumAt100k(t *testing.T) {
	browser := chromium(t)
	dom := string(browse(t, browser, renderHTML(t, manyFindings(100_000)), "--dump-dom"))
	if got := strings.Count(dom, "no row refers to it"); got != report.HTMLRowsPerKind {
		t.Errorf("the browser's DOM has %d orphan rows, want %d", got, report.HTMLRowsPerKind)
	}
	if !strings.Contains(dom, "Showing the first 1,000 of 100,000;") {
		t.Error("the browser's DOM lacks the cap's note")
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// pixels counts the pixels of img within a small distance of r, g, b.
func pixels(img image.Image, r, g, b uint8) int {
	near := func(a uint32, want uint8) bool {
		d := int(a>>8) - int(want)
		return d > -12 && d < 12
	}
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
