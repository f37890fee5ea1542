package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// HTMLRowsPerKind is how many findings of one kind the HTML report lists;
// the rest are counted, and the JSON report has them all. A page of
// 100,000 rows is too slow to open and too long to read.
const HTMLRowsPerKind = 1000

//go:embed audit.html.tmpl
var auditHTMLSource string

var auditHTML = template.Must(template.New("audit").Funcs(template.FuncMap{
	"bytes": HumanBytes,
	"count": countOf,
	"path":  displayPath,
	"ids":   joinIDs,
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"inst":  func(i *int) string { return optional(i) },
	"wsid":  func(i *uint64) string { return optional(i) },
	"size":  func(n *int64) string { return optionalBytes(n) },
	"took":  func(s float64) string { return seconds(s).String() },
	"finding": func(o reconcile.Outcome) bool {
		return o.IsFinding()
	},
	"rate": func(n int64, s float64) string { return thousands(int64(math.Round(float64(n) / s))) },
}).Parse(auditHTMLSource))

// htmlPage is what the template gets.
type htmlPage struct {
	R          *reconcile.Report
	S          reconcile.Summary
	Outcomes   []outcomeRow
	Workspaces chart
	Instances  chart
	Reclaim    chart
	// Anatomy is the bytes of each kind of session, and Regenerable those
	// of each instance, split into state and regenerable cache.
	Anatomy     chart
	Regenerable chart
	Kinds       []kindSection
	// Recent lists the directories and rows judged recent, not findings,
	// as the text report does after the findings.
	Recent kindSection
}

type outcomeRow struct {
	Outcome reconcile.Outcome
	Count   int
	Finding bool
}

type kindSection struct {
	Kind     reconcile.Outcome
	Count    int
	Findings []reconcile.Finding
	Shown    int
	Bytes    int64 // size of the directories, where measured
	Metered  int64
	Open     bool
}

// AuditHTML writes r as one self-contained HTML page: the summary (with
// the warnings, the time of each phase, the filesystem operations made,
// fs_ops, and the time budget's line, as the text report has them), where
// the bytes are (bar charts drawn as inline SVG), the reclaimable bytes by
// kind, the largest sessions, the findings grouped by kind, and the recent
// ones, at most HTMLRowsPerKind of each kind. It loads nothing: no script,
// font or style from elsewhere.
func AuditHTML(w io.Writer, r *reconcile.Report) error {
	s := r.Summary
	page := htmlPage{R: r, S: s}
	for _, o := range reconcile.Outcomes() {
		page.Outcomes = append(page.Outcomes, outcomeRow{o, s.Outcomes[o], o.IsFinding()})
	}

	var ws []bar
	var shown int64
	for _, u := range s.LargestWorkspaces {
		note := fmt.Sprintf("%s, %s %s", HumanBytes(u.SizeBytes), thousands(u.Sessions), plural(u.Sessions, "session"))
		if u.RegenerableBytes > 0 {
			note += fmt.Sprintf("; %s regenerable", HumanBytes(u.RegenerableBytes))
		}
		ws = append(ws, bar{Label: scanner.WorkspaceName(u.WorkspaceID), Value: u.SizeBytes, Part: u.RegenerableBytes, Note: note})
		shown += u.SizeBytes
	}
	if rest := s.WorkspacesMeasured - len(s.LargestWorkspaces); rest > 0 {
		ws = append(ws, bar{Label: fmt.Sprintf("%s other %s", thousands(rest), plural(rest, "workspace")), Value: s.Bytes - shown,
			Note: HumanBytes(s.Bytes - shown), Muted: true})
	}
	page.Workspaces = newChart("Bytes per workspace, the largest first (regenerable cache at the end of each bar)", ws)

	var inst []bar
	for _, is := range s.Instances {
		label := "instance " + is.Instance
		if is.Instance == "unassigned" {
			label = "unassigned"
		}
		inst = append(inst, bar{Label: label, Value: is.Bytes,
			Note: fmt.Sprintf("%s, %s %s", HumanBytes(is.Bytes), thousands(is.Sessions), plural(is.Sessions, "session"))})
	}
	page.Instances = newChart("Bytes per assigned instance", inst)
	page.Anatomy, page.Regenerable = anatomyCharts(s)

	byKind := map[reconcile.Outcome]*kindSection{}
	for _, f := range r.Findings {
		k := byKind[f.Kind]
		if k == nil {
			k = &kindSection{Kind: f.Kind, Count: s.Outcomes[f.Kind]}
			byKind[f.Kind] = k
		}
		if len(k.Findings) < HTMLRowsPerKind {
			k.Findings = append(k.Findings, f)
		}
		if f.SizeBytes != nil {
			k.Bytes += *f.SizeBytes
		}
		if f.MeteredBytes != nil {
			k.Metered += *f.MeteredBytes
		}
	}
	var reclaim []bar
	for _, o := range reconcile.Outcomes() {
		k := byKind[o]
		if k == nil {
			continue
		}
		k.Shown = len(k.Findings)
		if k.Count < k.Shown {
			k.Count = k.Shown
		}
		k.Open = k.Count <= 100
		page.Kinds = append(page.Kinds, *k)
		if o.Reclaimable() {
			reclaim = append(reclaim, bar{Label: string(o), Value: k.Bytes,
				Note: fmt.Sprintf("%s, %s %s (metered %s)", HumanBytes(k.Bytes),
					thousands(k.Count), plural(k.Count, "directory"), HumanBytes(k.Metered))})
		}
	}
	page.Reclaim = newChart("Reclaimable bytes by kind", reclaim)
	page.Recent = kindSection{Kind: reconcile.Recent, Count: len(r.Recent), Findings: r.Recent[:min(len(r.Recent), HTMLRowsPerKind)]}
	page.Recent.Shown = len(page.Recent.Findings)
	page.Recent.Open = page.Recent.Count <= 100

	if err := auditHTML.Execute(w, page); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// bar is one bar of a chart.
type bar struct {
	Label string
	Value int64
	Note  string
	Muted bool
	// Part, when > 0, is the part of Value drawn in the second colour at
	// the bar's end (the regenerable bytes of a kind or an instance).
	Part int64
	// Set by newChart: the bar's geometry in the SVG.
	Y, Width, PartX, PartWidth int
}

// chart is a horizontal bar chart drawn as inline SVG.
type chart struct {
	Title         string
	Bars          []bar
	Width, Height int
}

// Chart geometry, in SVG user units (the SVG scales to the page width).
const (
	chartLabelWidth = 230
	chartBarWidth   = 380
	chartRow        = 26
	chartWidth      = chartLabelWidth + chartBarWidth + 280
)

func newChart(title string, bars []bar) chart {
	var max int64
	for _, b := range bars {
		max = maxInt(max, b.Value)
	}
	for i := range bars {
		bars[i].Y = i * chartRow
		if max > 0 && bars[i].Value > 0 {
			bars[i].Width = maxInt(1, int(float64(bars[i].Value)/float64(max)*chartBarWidth))
		}
		if p := min(bars[i].Part, bars[i].Value); p > 0 && bars[i].Width > 0 {
			bars[i].PartWidth = maxInt(1, int(float64(p)/float64(bars[i].Value)*float64(bars[i].Width)))
			bars[i].PartX = chartLabelWidth + bars[i].Width - bars[i].PartWidth
		}
	}
	return chart{Title: title, Bars: bars, Width: chartWidth, Height: len(bars)*chartRow + 4}
}

func maxInt[T int | int64](a, b T) T {
	if a > b {
		return a
	}
	return b
}

// plural is word for n things: "1 session", "2 sessions", "2 directories".
func plural(n int, word string) string {
	switch {
	case n == 1:
		return word
	case strings.HasSuffix(word, "y"):
		return strings.TrimSuffix(word, "y") + "ies"
	}
	return word + "s"
}

// countOf is thousands for the template, which cannot instantiate it.
func countOf(n any) string {
	switch v := n.(type) {
	case int:
		return thousands(v)
	case int64:
		return thousands(v)
	}
	return fmt.Sprint(n)
}

// thousands formats n with thousands separators: 100,000.
func thousands[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// displayPath shows a path as it is when it is valid UTF-8, else Go-quoted
// so that its bytes show escaped (\xff), as in the text report.
func displayPath(p string) string {
	if utf8.ValidString(p) {
		return p
	}
	return strconv.Quote(p)
}

func joinIDs(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ", ")
}

func optional[T int | uint64](v *T) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(*v)
}

func optionalBytes(n *int64) string {
	if n == nil {
		return ""
	}
	return HumanBytes(*n)
}

// anatomyCharts returns the bytes of each kind of session and of each
// assigned instance, each bar split into state and regenerable cache (see
// docs/anatomy.md); a chart with no bar when there is nothing to show.
func anatomyCharts(s reconcile.Summary) (kinds, instances chart) {
	var kb []bar
	for _, k := range s.Anatomy.Kinds {
		note := fmt.Sprintf("%s, %s %s", HumanBytes(k.SizeBytes), thousands(k.Sessions), plural(k.Sessions, "session"))
		if k.RegenerableBytes > 0 {
			note += fmt.Sprintf("; %s regenerable", HumanBytes(k.RegenerableBytes))
		}
		if k.KeyFiles > 0 {
			note += fmt.Sprintf("; %s key files", thousands(k.KeyFiles))
		}
		kb = append(kb, bar{Label: string(k.Kind), Value: k.SizeBytes, Part: k.RegenerableBytes, Note: note})
	}
	var ib []bar
	for _, is := range s.Instances {
		if is.RegenerableBytes == 0 && is.KeyFiles == 0 {
			continue
		}
		label := "instance " + is.Instance
		if is.Instance == "unassigned" {
			label = "unassigned"
		}
		ib = append(ib, bar{Label: label, Value: is.Bytes, Part: is.RegenerableBytes,
			Note: fmt.Sprintf("%s regenerable of %s; %s key files", HumanBytes(is.RegenerableBytes), HumanBytes(is.Bytes), thousands(is.KeyFiles))})
	}
	return newChart("Bytes per kind of session: state, and regenerable cache at the end of each bar", kb),
		newChart("State and regenerable bytes per assigned instance", ib)
}
