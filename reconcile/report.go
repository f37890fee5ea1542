package reconcile

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sessaudit/db"
	"sessaudit/scanner"
)

// Report is the result of one audit.
type Report struct {
	Summary  Summary   `json:"summary"`
	Findings []Finding `json:"findings"`
}

// Summary counts what the audit saw and did.
type Summary struct {
	// Complete is false when the audit stopped before it finished; the
	// counts then cover only what was done.
	Complete        bool      `json:"complete"`
	DryRun          bool      `json:"dry_run"`
	Root            string    `json:"root"`
	PathPrefix      string    `json:"path_prefix"`
	Workspaces      []uint64  `json:"workspaces,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Sessions, Files and the byte counts cover every session directory
	// measured, whatever its outcome.
	Sessions       int   `json:"sessions"`
	Files          int64 `json:"files"`
	Bytes          int64 `json:"bytes"`
	AllocatedBytes int64 `json:"allocated_bytes"`
	MeteredBytes   int64 `json:"metered_bytes"`
	Rows           int   `json:"rows"`
	LiveRows       int   `json:"live_rows"`
	// Outcomes counts every outcome, findings or not.
	Outcomes map[Outcome]int `json:"outcomes"`
	Findings int             `json:"findings"`
	// RowsWritten is how many verified rows were written; RowsChanged how
	// many were not because the application changed them meanwhile.
	RowsWritten int `json:"rows_written"`
	RowsChanged int `json:"rows_changed_meanwhile"`
}

func newReport(cfg Config, started time.Time, rows []db.Row, d *disk, results []result) *Report {
	s := Summary{
		DryRun: cfg.DryRun, Root: cfg.Root, PathPrefix: cfg.PathPrefix, Workspaces: cfg.Workspaces,
		StartedAt: started, Rows: len(rows), Outcomes: map[Outcome]int{},
	}
	for _, o := range outcomeOrder {
		s.Outcomes[o] = 0
	}
	for _, r := range rows {
		if r.Live() {
			s.LiveRows++
		}
	}
	for _, e := range d.atSessionPath {
		if e.Kind != scanner.KindSession || e.Err != nil {
			continue
		}
		s.Sessions++
		s.Files += e.Usage.Files
		s.Bytes += e.Usage.Size
		s.AllocatedBytes += e.Usage.Allocated
		s.MeteredBytes += e.Usage.Metered
	}
	findings := []Finding{}
	for _, res := range results {
		s.Outcomes[res.Kind]++
		if res.Kind.IsFinding() {
			findings = append(findings, res.Finding)
		}
	}
	sortFindings(findings)
	s.Findings = len(findings)
	return &Report{Summary: s, Findings: findings}
}

func (r *Report) finish(at time.Time) {
	r.Summary.Complete = true
	r.Summary.FinishedAt = at
	r.Summary.DurationSeconds = at.Sub(r.Summary.StartedAt).Seconds()
}

// WriteJSON writes r as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteText writes r for a person: the summary, then the findings grouped by
// kind.
func (r *Report) WriteText(w io.Writer) error {
	s := r.Summary
	var b strings.Builder
	status := "complete"
	if !s.Complete {
		status = "INCOMPLETE"
	}
	mode := ""
	if s.DryRun {
		mode = ", dry run: nothing written"
	}
	fmt.Fprintf(&b, "sessaudit audit of %s (stored as %s), %s%s\n", s.Root, s.PathPrefix, status, mode)
	fmt.Fprintf(&b, "started %s, took %s\n", s.StartedAt.UTC().Format(time.RFC3339), time.Duration(s.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	fmt.Fprintf(&b, "sessions %d, files %d, size %s (allocated %s, EFS metered %s)\n",
		s.Sessions, s.Files, HumanBytes(s.Bytes), HumanBytes(s.AllocatedBytes), HumanBytes(s.MeteredBytes))
	fmt.Fprintf(&b, "rows %d (%d live), written %d", s.Rows, s.LiveRows, s.RowsWritten)
	if s.RowsChanged > 0 {
		fmt.Fprintf(&b, ", %d left alone because the application changed them meanwhile", s.RowsChanged)
	}
	b.WriteString("\n\noutcomes\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, o := range outcomeOrder {
		marker := ""
		if o.IsFinding() && s.Outcomes[o] > 0 {
			marker = "  <-"
		}
		fmt.Fprintf(tw, "  %s\t%d%s\n", o, s.Outcomes[o], marker)
	}
	tw.Flush()
	if len(r.Findings) == 0 {
		b.WriteString("\nno findings\n")
	}
	var kind Outcome
	for _, f := range r.Findings {
		if f.Kind != kind {
			kind = f.Kind
			fmt.Fprintf(&b, "\n%s (%d)\n", kind, s.Outcomes[kind])
		}
		b.WriteString("  " + describe(f) + "\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func describe(f Finding) string {
	var parts []string
	if f.Path != "" {
		parts = append(parts, fmt.Sprintf("%q", f.Path))
	}
	if len(f.RowIDs) > 0 {
		ids := make([]string, len(f.RowIDs))
		for i, id := range f.RowIDs {
			ids[i] = fmt.Sprint(id)
		}
		parts = append(parts, "rows "+strings.Join(ids, ","))
	}
	if f.SizeBytes != nil {
		parts = append(parts, HumanBytes(*f.SizeBytes))
	}
	if f.Detail != "" {
		parts = append(parts, f.Detail)
	}
	return strings.Join(parts, "  ")
}

// HumanBytes formats n in binary units: 512 B, 1.5 KiB, 3.2 GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, suffix := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= unit
		if v < unit && v > -unit {
			return fmt.Sprintf("%.1f %s", v, suffix)
		}
	}
	return fmt.Sprintf("%.1f EiB", v/unit)
}
