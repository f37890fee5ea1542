package reconcile_test

import (
	"testing"

	"sessaudit/reconcile"
)

// TestReclaimable: reclaim may move the directories of orphan and
// soft_deleted findings and nothing else, and each of them is a finding.
func TestReclaimable(t *testing.T) {
	var got []reconcile.Outcome
	for _, o := range reconcile.Outcomes() {
		if o.Reclaimable() {
			got = append(got, o)
			if !o.IsFinding() {
				t.Errorf("%s is reclaimable but not a finding", o)
			}
		}
	}
	if len(got) != 2 || got[0] != reconcile.Orphan || got[1] != reconcile.SoftDeleted {
		t.Errorf("reclaimable outcomes %v, want [orphan soft_deleted]", got)
	}
}
