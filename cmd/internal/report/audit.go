package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sessaudit/reconcile"
	"sessaudit/scanner"
	"sessaudit/scanner/anatomy"
)

// auditJSON is the audit report as JSON: the report itself, with each
// finding's and each largest session's path made lossless (its Summary and
// Findings shadow the report's).
type auditJSON struct {
	*reconcile.Report
	Summary  summaryJSON   `json:"summary"`
	Findings []findingJSON `json:"findings"`
	Recent   []findingJSON `json:"recent"`
}

type summaryJSON struct {
	reconcile.Summary
	LargestSessions []sessionJSON `json:"largest_sessions"`
}

type sessionJSON struct {
	reconcile.SessionUsage
	PathBase64 string `json:"path_base64,omitempty"`
}

type findingJSON struct {
	reconcile.Finding
	PathBase64 string `json:"path_base64,omitempty"`
}

// AuditJSON writes r as one indented JSON document.
func AuditJSON(w io.Writer, r *reconcile.Report) error {
	doc := auditJSON{Report: r, Findings: lossless(r.Findings), Recent: lossless(r.Recent)}
	doc.Summary = summaryJSON{Summary: r.Summary, LargestSessions: make([]sessionJSON, len(r.Summary.LargestSessions))}
	for i, u := range r.Summary.LargestSessions {
		doc.Summary.LargestSessions[i] = sessionJSON{SessionUsage: u, PathBase64: PathBase64(u.Path)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func lossless(fs []reconcile.Finding) []findingJSON {
	out := make([]findingJSON, len(fs))
	for i, f := range fs {
		out[i] = findingJSON{Finding: f, PathBase64: PathBase64(f.Path)}
	}
	return out
}

// AuditText writes r for a person: the summary, then the findings grouped
// by kind.
func AuditText(w io.Writer, r *reconcile.Report) error {
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
	scope := s.Scope
	if scope == "" {
		scope = "all workspaces"
	}
	fmt.Fprintf(&b, "sessaudit audit of %s (stored as %s), %s, %s%s\n", s.Root, s.PathPrefix, scope, status, mode)
	for _, warning := range s.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warning)
	}
	fmt.Fprintf(&b, "started %s, took %s\n", s.StartedAt.UTC().Format(time.RFC3339), seconds(s.DurationSeconds))
	if p := s.Phases; p != nil {
		fmt.Fprintf(&b, "time: check %s, rows %s, walk %s, judge %s, write %s\n",
			seconds(p.Check), seconds(p.Rows), seconds(p.Walk), seconds(p.Judge), seconds(p.Write))
	}
	fmt.Fprintf(&b, "filesystem operations %d", s.FSOps)
	if s.DurationSeconds > 0 {
		fmt.Fprintf(&b, " (%.0f/s)", float64(s.FSOps)/s.DurationSeconds)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "sessions %d, files %d, size %s (allocated %s, EFS metered %s)\n",
		s.Sessions, s.Files, HumanBytes(s.Bytes), HumanBytes(s.AllocatedBytes), HumanBytes(s.MeteredBytes))
	fmt.Fprintf(&b, "rows %d (%d live), written %d", s.Rows, s.LiveRows, s.RowsWritten)
	if s.RowsChanged > 0 {
		fmt.Fprintf(&b, ", %d left alone because the application changed them meanwhile", s.RowsChanged)
	}
	if s.PathsWritten > 0 || s.PathsChanged > 0 {
		fmt.Fprintf(&b, "; paths backfilled %d (%d left alone)", s.PathsWritten, s.PathsChanged)
	}
	if bu := s.Budget; bu != nil {
		fmt.Fprintf(&b, "\ntime budget %s: sized %d of %d session directories, deferred %d",
			seconds(bu.MaxDurationSeconds), bu.Sized, bu.Listed, bu.Deferred)
		if bu.StalestVerifiedAt != nil {
			fmt.Fprintf(&b, "; stalest verified row %s", bu.StalestVerifiedAt.UTC().Format(time.RFC3339))
		}
		if bu.NeverVerified > 0 {
			fmt.Fprintf(&b, "; %d never verified", bu.NeverVerified)
		}
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "\nstopped early: %s", s.Error)
	}
	b.WriteString("\n\noutcomes\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, o := range reconcile.Outcomes() {
		marker := ""
		if o.IsFinding() && s.Outcomes[o] > 0 {
			marker = "  <-"
		}
		fmt.Fprintf(tw, "  %s\t%d%s\n", o, s.Outcomes[o], marker)
	}
	tw.Flush()
	writeAnatomy(&b, s.Anatomy)
	if len(s.Instances) > 0 {
		b.WriteString("\nper instance\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  INSTANCE\tLIVE ROWS\tSESSIONS\tSIZE\tMETERED\tREGENERABLE\tKEY FILES\tFINDINGS\t")
		for _, is := range s.Instances {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t\n", is.Instance, is.Rows, is.Sessions,
				HumanBytes(is.Bytes), HumanBytes(is.MeteredBytes), HumanBytes(is.RegenerableBytes), is.KeyFiles, is.Findings)
		}
		tw.Flush()
	}
	writeLargest(&b, s)
	if len(r.Findings) == 0 {
		b.WriteString("\nno findings\n")
	}
	var kind reconcile.Outcome
	for _, f := range r.Findings {
		if f.Kind != kind {
			kind = f.Kind
			fmt.Fprintf(&b, "\n%s (%d)\n", kind, s.Outcomes[kind])
		}
		b.WriteString("  " + describe(f) + "\n")
	}
	if len(r.Recent) > 0 {
		fmt.Fprintf(&b, "\nrecent, not findings: judged on a later run (%d)\n", len(r.Recent))
		for _, f := range r.Recent {
			b.WriteString("  " + describe(f) + "\n")
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// describe is one finding on one line. The path is Go-quoted, so that a
// name that is not valid UTF-8 prints with its exact bytes escaped.
func describe(f reconcile.Finding) string {
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
	if f.Instance != nil {
		parts = append(parts, fmt.Sprintf("instance %d", *f.Instance))
	}
	if f.Detail != "" {
		parts = append(parts, f.Detail)
	}
	return strings.Join(parts, "  ")
}

// writeLargest lists where the space went: the largest sessions and
// workspaces by size.
func writeLargest(b *strings.Builder, s reconcile.Summary) {
	if len(s.LargestSessions) > 0 {
		fmt.Fprintf(b, "\nlargest sessions (%d of %d)\n", len(s.LargestSessions), s.Sessions)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
		// The path comes last, unaligned: right-aligned it would be hard
		// to read.
		fmt.Fprintln(tw, "  SIZE\tMETERED\tFILES\tREGENERABLE\t  KIND\t  SESSION")
		for _, u := range s.LargestSessions {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t  %s\t  %q\n", HumanBytes(u.SizeBytes), HumanBytes(u.MeteredBytes), u.Files,
				HumanBytes(u.RegenerableBytes), kindOrDash(u.Kind), u.Path)
		}
		tw.Flush()
	}
	if len(s.LargestWorkspaces) > 0 {
		fmt.Fprintf(b, "\nlargest workspaces (%d of %d)\n", len(s.LargestWorkspaces), s.WorkspacesMeasured)
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  SIZE\tMETERED\tFILES\tSESSIONS\tREGENERABLE\tKEY FILES\t  WORKSPACE")
		for _, u := range s.LargestWorkspaces {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%d\t  %s\n", HumanBytes(u.SizeBytes), HumanBytes(u.MeteredBytes), u.Files, u.Sessions,
				HumanBytes(u.RegenerableBytes), u.KeyFiles, scanner.WorkspaceName(u.WorkspaceID))
		}
		tw.Flush()
	}
}

// writeAnatomy says what the sessions measured are made of: by kind, state
// and regenerable bytes, and the Baileys key files by type.
func writeAnatomy(b *strings.Builder, a reconcile.Anatomy) {
	if len(a.Kinds) == 0 {
		return
	}
	b.WriteString("\nsessions by kind\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  KIND\tSESSIONS\tSIZE\tREGENERABLE\tKEY FILES\t")
	for _, k := range a.Kinds {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%d\t\n", k.Kind, k.Sessions, HumanBytes(k.SizeBytes), HumanBytes(k.RegenerableBytes), k.KeyFiles)
	}
	tw.Flush()
	fmt.Fprintf(b, "  state %s, regenerable %s (metered %s)\n", HumanBytes(a.StateBytes), HumanBytes(a.RegenerableBytes), HumanBytes(a.RegenerableMeteredBytes))
	if len(a.KeyFiles) > 0 {
		types := make([]string, 0, len(a.KeyFiles))
		for typ := range a.KeyFiles {
			types = append(types, typ)
		}
		slices.SortFunc(types, func(x, y string) int {
			return cmp.Or(cmp.Compare(a.KeyFiles[y].Files, a.KeyFiles[x].Files), cmp.Compare(x, y))
		})
		parts := make([]string, len(types))
		for i, typ := range types {
			parts[i] = fmt.Sprintf("%s %d", typ, a.KeyFiles[typ].Files)
		}
		fmt.Fprintf(b, "  key files: %s\n", strings.Join(parts, ", "))
	}
}

// kindOrDash is a session's kind, or "-" when it has none.
func kindOrDash(k anatomy.Kind) string {
	if k == "" {
		return "-"
	}
	return string(k)
}

// seconds formats a number of seconds as a duration to the millisecond.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}
