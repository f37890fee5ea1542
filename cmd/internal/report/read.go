package report

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"sessaudit/reconcile"
)

// ErrNotAReport says that the input holds no audit report.
var ErrNotAReport = errors.New("report: not a sessaudit audit report")

// ReadAuditJSON reads back what AuditJSON wrote: the report, each path made
// exact again from its path_base64. The report may stand among other JSON
// values, as in the log of a Kubernetes pod, where the audit's JSON log
// lines (stderr) and its report (stdout) are interleaved: the first value
// with a "summary" holding "outcomes" is the report; values before and after
// it are skipped. Anything that is not JSON is an error.
func ReadAuditJSON(r io.Reader) (*reconcile.Report, error) {
	dec := json.NewDecoder(r)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, ErrNotAReport
			}
			return nil, fmt.Errorf("%w: %v", ErrNotAReport, err)
		}
		var probe struct {
			Summary *struct {
				Outcomes map[string]int `json:"outcomes"`
			} `json:"summary"`
		}
		if json.Unmarshal(raw, &probe) != nil || probe.Summary == nil || probe.Summary.Outcomes == nil {
			continue // a log line, or some other value
		}
		return decodeAudit(raw)
	}
}

func decodeAudit(raw []byte) (*reconcile.Report, error) {
	var doc struct {
		Summary struct {
			reconcile.Summary
			LargestSessions []sessionJSON `json:"largest_sessions"`
		} `json:"summary"`
		Findings []findingJSON `json:"findings"`
		Recent   []findingJSON `json:"recent"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAReport, err)
	}
	rep := &reconcile.Report{Summary: doc.Summary.Summary}
	rep.Summary.LargestSessions = make([]reconcile.SessionUsage, len(doc.Summary.LargestSessions))
	for i, s := range doc.Summary.LargestSessions {
		p, err := exact(s.Path, s.PathBase64)
		if err != nil {
			return nil, fmt.Errorf("%w: largest session %d: %v", ErrNotAReport, i+1, err)
		}
		s.SessionUsage.Path = p
		rep.Summary.LargestSessions[i] = s.SessionUsage
	}
	var err error
	if rep.Findings, err = exactFindings(doc.Findings, "finding"); err != nil {
		return nil, err
	}
	if rep.Recent, err = exactFindings(doc.Recent, "recent"); err != nil {
		return nil, err
	}
	return rep, nil
}

func exactFindings(in []findingJSON, what string) ([]reconcile.Finding, error) {
	out := make([]reconcile.Finding, len(in))
	for i, f := range in {
		p, err := exact(f.Path, f.PathBase64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %d: %v", ErrNotAReport, what, i+1, err)
		}
		f.Finding.Path = p
		out[i] = f.Finding
	}
	return out, nil
}

// exact is the path path_base64 holds, when it is there, else path.
func exact(path, b64 string) (string, error) {
	if b64 == "" {
		return path, nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("path_base64 %q: %v", b64, err)
	}
	return string(b), nil
}
