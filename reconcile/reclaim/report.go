package reclaim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

var (
	// ErrBadReport: the input is not an audit's JSON report.
	ErrBadReport = errors.New("reclaim: not an audit report")
	// ErrIncomplete: the audit stopped before it finished.
	ErrIncomplete = errors.New("reclaim: the audit report is incomplete")
	// ErrStale: the report is older than allowed.
	ErrStale = errors.New("reclaim: the audit report is too old")
)

// Report is what reclaim reads of an audit's JSON report (sessaudit audit
// --format json).
type Report struct {
	Summary  Summary   `json:"summary"`
	Findings []Finding `json:"findings"`
}

// Summary is the part of the report's summary reclaim reads.
type Summary struct {
	Complete   bool      `json:"complete"`
	Error      string    `json:"error"`
	DryRun     bool      `json:"dry_run"`
	Root       string    `json:"root"`
	PathPrefix string    `json:"path_prefix"`
	FinishedAt time.Time `json:"finished_at"`
	// MinAgeSeconds is the audit's --min-age; nil in a report written
	// before it was recorded.
	MinAgeSeconds *float64 `json:"min_age_seconds"`
}

// Finding is the part of a finding reclaim reads.
type Finding struct {
	Kind reconcile.Outcome `json:"kind"`
	Path string            `json:"path"`
	// PathBase64, when present, holds the exact bytes of a path that is
	// not valid UTF-8 (Path then has them replaced).
	PathBase64  string   `json:"path_base64"`
	WorkspaceID *uint64  `json:"workspace_id"`
	RowIDs      []uint64 `json:"row_ids"`
	SizeBytes   *int64   `json:"size_bytes"`
	Files       *int64   `json:"files"`
}

// ReadReport decodes a report and checks that it may be acted on: complete
// (a dry run is fine) and finished no longer than maxAge before now.
func ReadReport(r io.Reader, now time.Time, maxAge time.Duration) (*Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReport, err)
	}
	s := rep.Summary
	switch {
	case s.Root == "" || s.FinishedAt.IsZero():
		return nil, fmt.Errorf("%w: no summary with root and finished_at (was it written with --format json?)", ErrBadReport)
	case !s.Complete:
		return nil, fmt.Errorf("%w (it stopped: %s); run the audit again", ErrIncomplete, s.Error)
	case now.Sub(s.FinishedAt) > maxAge:
		return nil, fmt.Errorf("%w: finished %s ago, more than %s; run the audit again", ErrStale,
			now.Sub(s.FinishedAt).Round(time.Minute), maxAge)
	case s.FinishedAt.Sub(now) > time.Minute:
		return nil, fmt.Errorf("%w: finished at %s, in the future; check the clocks", ErrBadReport, s.FinishedAt.Format(time.RFC3339))
	}
	return &rep, nil
}

// MinAge returns the audit's grace period, if the report records it.
func (r *Report) MinAge() (time.Duration, bool) {
	if r.Summary.MinAgeSeconds == nil {
		return 0, false
	}
	return time.Duration(*r.Summary.MinAgeSeconds * float64(time.Second)), true
}

// Candidate is a session directory of the report to consider moving.
type Candidate struct {
	// Path is the exact path relative to the root.
	Path        string
	WorkspaceID uint64
	SessionID   string
	Kind        reconcile.Outcome
	RowIDs      []uint64
	// SizeBytes and Files are as the audit measured them.
	SizeBytes, Files int64
}

// Kinds are the findings reclaim may move (see Outcome.Reclaimable), in
// report order.
var Kinds = slices.DeleteFunc(reconcile.Outcomes(), func(o reconcile.Outcome) bool { return !o.Reclaimable() })

// Candidates returns the findings of the given kinds (each one of Kinds),
// ordered by path. A finding of those kinds whose path is not a session path
// makes the report unusable.
func (r *Report) Candidates(kinds []reconcile.Outcome) ([]Candidate, error) {
	var out []Candidate
	for i, f := range r.Findings {
		if !slices.Contains(kinds, f.Kind) {
			continue
		}
		p := f.Path
		if f.PathBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(f.PathBase64)
			if err != nil {
				return nil, fmt.Errorf("%w: finding %d: path_base64: %v", ErrBadReport, i+1, err)
			}
			p = string(b)
		}
		ws, id, ok := scanner.ParseSessionPath(p)
		if !ok {
			return nil, fmt.Errorf("%w: finding %d (%s): %q is not %s", ErrBadReport, i+1, f.Kind, p, scanner.SessionPathPattern)
		}
		if f.WorkspaceID != nil && *f.WorkspaceID != ws {
			return nil, fmt.Errorf("%w: finding %d: workspace_id %d but path %q", ErrBadReport, i+1, *f.WorkspaceID, p)
		}
		c := Candidate{Path: p, WorkspaceID: ws, SessionID: id, Kind: f.Kind, RowIDs: f.RowIDs}
		if f.SizeBytes != nil {
			c.SizeBytes = *f.SizeBytes
		}
		if f.Files != nil {
			c.Files = *f.Files
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}
