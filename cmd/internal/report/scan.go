package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"sessaudit/reconcile"
	"sessaudit/scanner"
)

// scanRecord is one session in scan's JSON lines.
type scanRecord struct {
	Path           string `json:"path"`
	PathBase64     string `json:"path_base64,omitempty"`
	WorkspaceID    uint64 `json:"workspace_id"`
	Session        string `json:"session"`
	SizeBytes      *int64 `json:"size_bytes,omitempty"`
	AllocatedBytes *int64 `json:"allocated_bytes,omitempty"`
	MeteredBytes   *int64 `json:"metered_bytes,omitempty"`
	Files          *int64 `json:"files,omitempty"`
	// Kind, RegenerableBytes and KeyFiles are the session's anatomy (see
	// docs/anatomy.md): what wrote it, the part of its size that is
	// regenerable cache, and its Baileys key files by type.
	Kind             string                        `json:"kind,omitempty"`
	RegenerableBytes *int64                        `json:"regenerable_bytes,omitempty"`
	KeyFiles         map[string]reconcile.KeyFiles `json:"key_files,omitempty"`
	Error            string                        `json:"error,omitempty"`
	// Changed says how the session changed while it was measured: its
	// sizes may mix the tree before and after (see scanner.Entry.Changed).
	Changed string `json:"changed,omitempty"`
}

// ScanLine writes one session directory as one JSON object on one line. A
// session that could not be read has an "error" and no sizes; one that
// changed while it was measured has a "changed" that says how.
func ScanLine(w io.Writer, e scanner.Entry) error {
	r := scanRecord{Path: e.Path, PathBase64: PathBase64(e.Path), WorkspaceID: e.WorkspaceID, Session: e.SessionID, Changed: e.Changed}
	if e.Err != nil {
		r.Error = oneLine(e.Err.Error())
	} else {
		u := e.Usage
		r.SizeBytes, r.AllocatedBytes, r.MeteredBytes, r.Files = &u.Size, &u.Allocated, &u.Metered, &u.Files
		if a := e.Anatomy; a.Kind != "" {
			r.Kind, r.RegenerableBytes = string(a.Kind), &a.Regenerable.Size
			for typ, k := range a.Keys {
				if r.KeyFiles == nil {
					r.KeyFiles = map[string]reconcile.KeyFiles{}
				}
				r.KeyFiles[typ] = reconcile.KeyFiles{Files: k.Files, Bytes: k.Size}
			}
		}
	}
	if err := json.NewEncoder(w).Encode(r); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// ScanTable writes the session directories as a table in path order with a
// total, then the unrecognized entries, unreadable workspaces, unreadable
// sessions and sessions that changed while they were measured, one per
// line. It sorts both slices.
func ScanTable(w io.Writer, sessions, others []scanner.Entry) error {
	byPath := func(a, b scanner.Entry) int { return cmp.Compare(a.Path, b.Path) }
	slices.SortFunc(sessions, byPath)
	slices.SortFunc(others, byPath)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PATH\tFILES\tSIZE\tALLOCATED\tMETERED\t")
	var total scanner.Usage
	for _, e := range sessions {
		if e.Err != nil {
			fmt.Fprintf(tw, "%q\t-\t-\t-\t-\t\n", e.Path)
			continue
		}
		u := e.Usage
		total.Add(u)
		fmt.Fprintf(tw, "%q\t%d\t%s\t%s\t%s\t\n", e.Path, u.Files, HumanBytes(u.Size),
			HumanBytes(u.Allocated), HumanBytes(u.Metered))
	}
	fmt.Fprintf(tw, "total: %d sessions\t%d\t%s\t%s\t%s\t\n", len(sessions), total.Files,
		HumanBytes(total.Size), HumanBytes(total.Allocated), HumanBytes(total.Metered))
	tw.Flush()
	for _, e := range others {
		switch e.Kind {
		case scanner.KindUnrecognized:
			fmt.Fprintf(&b, "unrecognized %q: %s\n", e.Path, e.Reason)
		case scanner.KindWorkspaceError:
			fmt.Fprintf(&b, "unreadable workspace %q: %s\n", e.Path, oneLine(e.Err.Error()))
		}
	}
	for _, e := range sessions {
		if e.Err != nil {
			fmt.Fprintf(&b, "unreadable session %q: %s\n", e.Path, oneLine(e.Err.Error()))
		}
	}
	for _, e := range sessions {
		if e.Err == nil && e.Changed != "" {
			fmt.Fprintf(&b, "changed while measured %q: %s; its size may mix before and after\n", e.Path, e.Changed)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
