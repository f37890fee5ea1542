package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sessaudit/scanner"
)

// ErrCannotMerge says that reports are not the shards of one audit: they
// audited different shares, or the same shard twice.
var ErrCannotMerge = errors.New("reconcile: reports cannot be merged")

// Merge makes one report of the reports of N shard runs of one share (the
// N pods of the Kubernetes CronJob), as one run over all workspaces would
// have written it: counts and bytes added up, findings and recent ones
// together in the report's order, the largest sessions and workspaces
// chosen again, per-instance counts added up by instance. N shard runs make
// exactly the findings and writes of one run, so nothing is counted twice.
//
// The reports must name the same root and path prefix and no shard twice;
// a report of a whole run merges with nothing. A shard of the N that is not
// given is named in the merged report's warnings, as is every warning of
// the reports. The merged report is complete only when every report is,
// and holds the longest grace period (MinAgeSeconds) of them, which is what
// reclaim applies again. A single report comes back as it is.
func Merge(reports []*Report) (*Report, error) {
	switch len(reports) {
	case 0:
		return nil, fmt.Errorf("%w: no report", ErrCannotMerge)
	case 1:
		return reports[0], nil
	}
	first := reports[0].Summary
	var shards []scanner.Shard
	for i, r := range reports {
		s := r.Summary
		if s.Root != first.Root || s.PathPrefix != first.PathPrefix {
			return nil, fmt.Errorf("%w: report %d audited %s (stored as %s), report 1 %s (stored as %s)",
				ErrCannotMerge, i+1, s.Root, s.PathPrefix, first.Root, first.PathPrefix)
		}
		if s.Shard == "" {
			return nil, fmt.Errorf("%w: report %d is of %s, not of one shard", ErrCannotMerge, i+1, s.Scope)
		}
		sh, err := scanner.ParseShard(s.Shard)
		if err != nil {
			return nil, fmt.Errorf("%w: report %d: %v", ErrCannotMerge, i+1, err)
		}
		if len(shards) > 0 && sh.Count != shards[0].Count {
			return nil, fmt.Errorf("%w: report %d is shard %s, report 1 shard %s: not shards of one run", ErrCannotMerge, i+1, sh, shards[0])
		}
		if slices.Contains(shards, sh) {
			return nil, fmt.Errorf("%w: shard %s is given twice", ErrCannotMerge, sh)
		}
		shards = append(shards, sh)
	}

	m := Summary{
		Complete: true, DryRun: first.DryRun, Root: first.Root, PathPrefix: first.PathPrefix,
		StartedAt: first.StartedAt, FinishedAt: first.FinishedAt, Outcomes: map[Outcome]int{},
	}
	var errs, dry []string
	var listed []uint64
	instances := map[string]*InstanceSummary{}
	byWorkspace := map[uint64]WorkspaceUsage{}
	out := &Report{Findings: []Finding{}, Recent: []Finding{}}
	for _, r := range reports {
		s := r.Summary
		if !s.Complete {
			m.Complete = false
			errs = append(errs, fmt.Sprintf("shard %s: %s", s.Shard, cmp.Or(s.Error, "incomplete")))
		}
		if s.DryRun {
			dry = append(dry, s.Shard)
		}
		m.MinAgeSeconds = max(m.MinAgeSeconds, s.MinAgeSeconds)
		m.MaxUnverifiedSeconds = max(m.MaxUnverifiedSeconds, s.MaxUnverifiedSeconds)
		if s.StartedAt.Before(m.StartedAt) {
			m.StartedAt = s.StartedAt
		}
		if s.FinishedAt.After(m.FinishedAt) {
			m.FinishedAt = s.FinishedAt
		}
		listed = append(listed, s.Workspaces...)
		m.FSOps += s.FSOps
		m.Sessions += s.Sessions
		m.Files += s.Files
		m.Bytes += s.Bytes
		m.AllocatedBytes += s.AllocatedBytes
		m.MeteredBytes += s.MeteredBytes
		m.Rows += s.Rows
		m.LiveRows += s.LiveRows
		for o, n := range s.Outcomes {
			m.Outcomes[o] += n
		}
		m.Findings += s.Findings
		m.RowsWritten += s.RowsWritten
		m.RowsChanged += s.RowsChanged
		m.PathsWritten += s.PathsWritten
		m.PathsChanged += s.PathsChanged
		for _, is := range s.Instances {
			sum := instances[is.Instance]
			if sum == nil {
				sum = &InstanceSummary{Instance: is.Instance}
				instances[is.Instance] = sum
			}
			sum.Rows += is.Rows
			sum.Sessions += is.Sessions
			sum.Bytes += is.Bytes
			sum.MeteredBytes += is.MeteredBytes
			sum.Findings += is.Findings
			sum.RegenerableBytes += is.RegenerableBytes
			sum.KeyFiles += is.KeyFiles
		}
		m.Anatomy.merge(&s.Anatomy)
		m.LargestSessions = append(m.LargestSessions, s.LargestSessions...)
		for _, w := range s.LargestWorkspaces {
			byWorkspace[w.WorkspaceID] = w // a workspace is in one shard
		}
		m.WorkspacesMeasured += s.WorkspacesMeasured
		if b := s.Budget; b != nil {
			if m.Budget == nil {
				m.Budget = &Budget{}
			}
			mb := m.Budget
			mb.MaxDurationSeconds = max(mb.MaxDurationSeconds, b.MaxDurationSeconds)
			mb.Listed += b.Listed
			mb.Sized += b.Sized
			mb.Deferred += b.Deferred
			mb.NeverVerified += b.NeverVerified
			if b.StalestVerifiedAt != nil && (mb.StalestVerifiedAt == nil || b.StalestVerifiedAt.Before(*mb.StalestVerifiedAt)) {
				t := *b.StalestVerifiedAt
				mb.StalestVerifiedAt = &t
			}
		}
		for _, w := range s.Warnings {
			m.Warnings = append(m.Warnings, fmt.Sprintf("shard %s: %s", s.Shard, w))
		}
		out.Findings = append(out.Findings, r.Findings...)
		out.Recent = append(out.Recent, r.Recent...)
	}
	m.DurationSeconds = m.FinishedAt.Sub(m.StartedAt).Seconds()
	if m.FinishedAt.IsZero() || m.StartedAt.IsZero() {
		m.DurationSeconds = 0
	}
	if len(dry) > 0 && len(dry) < len(reports) {
		m.Warnings = append(m.Warnings, "only shards "+strings.Join(dry, ", ")+" were dry runs: the others wrote their rows")
	}
	m.DryRun = len(dry) == len(reports)
	m.Error = strings.Join(errs, "; ")

	n := shards[0].Count
	slices.SortFunc(shards, func(a, b scanner.Shard) int { return cmp.Compare(a.Index, b.Index) })
	var absent []string
	for i := uint64(0); i < n; i++ {
		if !slices.Contains(shards, scanner.Shard{Index: i, Count: n}) {
			absent = append(absent, scanner.Shard{Index: i, Count: n}.String())
		}
	}
	names := make([]string, len(shards))
	for i, sh := range shards {
		names[i] = sh.String()
	}
	if len(absent) == 0 && len(listed) == 0 {
		m.Scope = fmt.Sprintf("all workspaces (the %d shards merged)", n)
	} else {
		m.Scope = fmt.Sprintf("%s (shards %s merged)", first.Scope, strings.Join(names, ", "))
		if len(absent) > 0 {
			m.Warnings = append(m.Warnings, fmt.Sprintf("shards %s of %d are not in this report: their workspaces were not audited here", strings.Join(absent, ", "), n))
		}
	}
	if len(listed) > 0 {
		slices.Sort(listed)
		m.Workspaces = slices.Compact(listed)
	}

	for _, is := range instances {
		m.Instances = append(m.Instances, *is)
	}
	sortInstances(m.Instances)
	slices.SortFunc(m.LargestSessions, bySize)
	m.LargestSessions = m.LargestSessions[:min(len(m.LargestSessions), LargestCount)]
	m.LargestWorkspaces = make([]WorkspaceUsage, 0, len(byWorkspace))
	for _, w := range byWorkspace {
		m.LargestWorkspaces = append(m.LargestWorkspaces, w)
	}
	slices.SortFunc(m.LargestWorkspaces, byWorkspaceSize)
	m.LargestWorkspaces = m.LargestWorkspaces[:min(len(m.LargestWorkspaces), LargestCount)]
	sortFindings(out.Findings)
	sortFindings(out.Recent)
	out.Summary = m
	return out, nil
}
