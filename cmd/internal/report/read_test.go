package report_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"sessaudit/cmd/internal/report"
	"sessaudit/reconcile"
)

// What AuditJSON writes, ReadAuditJSON reads back whole: every field, and
// the paths that are not UTF-8 byte for byte. So a report rendered from
// the JSON file (sessaudit report show) is the report the audit had.
func TestReadAuditJSONRoundTrip(t *testing.T) {
	want := sampleReport()
	want.Summary.LargestSessions = []reconcile.SessionUsage{{Path: "workspace_2/session_\xff\xfe", WorkspaceID: 2, SizeBytes: 3, MeteredBytes: 8192, Files: 1}}
	want.Summary.LargestWorkspaces = []reconcile.WorkspaceUsage{{WorkspaceID: 2, Sessions: 1, SizeBytes: 3, MeteredBytes: 8192, Files: 1}}
	var b bytes.Buffer
	if err := report.AuditJSON(&b, want); err != nil {
		t.Fatal(err)
	}
	got, err := report.ReadAuditJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

// The log of a Kubernetes pod holds the audit's JSON log lines around its
// report; the report is found among them.
func TestReadAuditJSONFromPodLog(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"level":"info","root":"/mnt/efs","message":"audit started"}` + "\n")
	if err := report.AuditJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b.WriteString(`{"level":"info","sessions":5,"message":"audit finished"}` + "\n")
	got, err := report.ReadAuditJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Summary.Root != "/srv/share" || len(got.Findings) != 4 {
		t.Errorf("read %+v", got.Summary)
	}
}

func TestReadAuditJSONRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                 "",
		"log lines only":        `{"level":"info","message":"audit started"}` + "\n",
		"not JSON":              "sessaudit audit of /mnt/efs\n",
		"a manifest":            `{"event":"run","format":"sessaudit-quarantine-manifest","version":1}` + "\n",
		"a bad path_base64":     `{"summary":{"outcomes":{}},"findings":[{"kind":"orphan","path":"x","path_base64":"!!"}]}`,
		"a summary of the kind": `{"summary":{"outcomes":{}},"findings":"no"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := report.ReadAuditJSON(strings.NewReader(in))
			if !errors.Is(err, report.ErrNotAReport) {
				t.Errorf("err %v, want ErrNotAReport", err)
			}
		})
	}
}
