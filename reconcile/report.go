package reconcile

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"sessaudit/db"
)

// Report is the result of one audit.
type Report struct {
	Summary  Summary   `json:"summary"`
	Findings []Finding `json:"findings"`
	// Recent lists the directories and rows judged recent: not findings,
	// but what an operator asks about ("which?"); judged on a later run.
	Recent []Finding `json:"recent"`
}

// Summary counts what the audit saw and did.
type Summary struct {
	// Complete is false when the audit stopped before it finished; the
	// counts then cover only what was done.
	Complete bool `json:"complete"`
	// Error says why the audit is incomplete.
	Error      string `json:"error,omitempty"`
	DryRun     bool   `json:"dry_run"`
	Root       string `json:"root"`
	PathPrefix string `json:"path_prefix"`
	// MinAgeSeconds is the grace period (--min-age); reclaim applies it
	// again just before it moves a directory.
	MinAgeSeconds float64 `json:"min_age_seconds"`
	// MaxUnverifiedSeconds is --max-unverified: a row not verified for
	// longer is an unverified finding; 0 when that is off.
	MaxUnverifiedSeconds float64 `json:"max_unverified_seconds"`
	// Scope names the workspaces audited ("all workspaces", "workspaces
	// 2, 7", "shard 1/3"); Workspaces lists them when they were listed and
	// Shard is "I/N" when the run was a shard.
	Scope           string    `json:"scope"`
	Workspaces      []uint64  `json:"workspaces,omitempty"`
	Shard           string    `json:"shard,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Phases says where the time of a judged audit went; nil when the audit
	// was interrupted before it judged.
	Phases *Phases `json:"phases,omitempty"`
	// FSOps counts the filesystem calls the audit made (opening a
	// directory, reading a batch of its entries, one lstat, the look again
	// at a path): what EFS bills and throttles by. It is the Calls of
	// Config.Walk's Progress when the audit ends.
	FSOps int64 `json:"fs_ops"`
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
	// PathsWritten is how many unlinked rows were given their path with
	// --backfill-paths; PathsChanged how many were not because the
	// application changed them meanwhile (or the path did not fit).
	PathsWritten int `json:"paths_written"`
	PathsChanged int `json:"paths_changed_meanwhile"`
	// Instances breaks sessions, bytes and findings down by the
	// assigned_instance_index of the rows involved, when asked for.
	Instances []InstanceSummary `json:"instances,omitempty"`
	// LargestSessions and LargestWorkspaces are the LargestCount largest
	// session directories measured, and workspaces by the sessions in them,
	// by size: where the space went. WorkspacesMeasured counts the
	// workspaces with a session measured.
	LargestSessions    []SessionUsage   `json:"largest_sessions"`
	LargestWorkspaces  []WorkspaceUsage `json:"largest_workspaces"`
	WorkspacesMeasured int              `json:"workspaces_measured"`
	// Anatomy is what the sessions measured are made of, by kind.
	Anatomy Anatomy `json:"anatomy"`
	// Budget is there when the audit ran under a time budget: what it
	// sized and how stale that left the rows.
	Budget *Budget `json:"budget,omitempty"`
	// Warnings are things an operator should know that are not findings,
	// such as a selection that matched nothing.
	Warnings []string `json:"warnings,omitempty"`
}

// Phases is the time, in seconds, each part of an audit took; a part not
// reached is 0. What the audit costs beyond its walk is the sum of Check,
// Judge and Write, and of Rows under a time budget (without one the rows
// are read during the walk).
type Phases struct {
	// Check is judging the stored prefix and the mount on a sample of rows.
	Check float64 `json:"check_seconds"`
	// Rows is reading the rows of the scope. Without a time budget they
	// are read while the share is walked, and Walk includes Rows.
	Rows float64 `json:"rows_seconds"`
	// Walk is listing and measuring the session directories (under a
	// time budget, sizing the stalest).
	Walk float64 `json:"walk_seconds"`
	// Judge is classifying every directory and row and looking again at
	// what the outcomes depend on (the second look, and the re-measurement
	// of sessions that changed while measured).
	Judge float64 `json:"judge_seconds"`
	// Write is writing the verified sizes (and, with --backfill-paths, the
	// paths).
	Write float64 `json:"write_seconds"`
}

// InstanceSummary is one instance's share of the audit. A directory or
// finding counts for the instance of its live row, else of any of its rows;
// with no row or no index set it counts as "unassigned".
type InstanceSummary struct {
	Instance     string `json:"instance"`
	Rows         int    `json:"live_rows"`
	Sessions     int    `json:"sessions"`
	Bytes        int64  `json:"bytes"`
	MeteredBytes int64  `json:"metered_bytes"`
	Findings     int    `json:"findings"`
	// RegenerableBytes is the regenerable part of Bytes, KeyFiles the
	// Baileys key files of the instance's sessions.
	RegenerableBytes int64 `json:"regenerable_bytes"`
	KeyFiles         int64 `json:"key_files"`
}

const unassigned = "unassigned"

// instanceOf returns the instance index the rows are assigned to: that of a
// live row if any has one, else that of any row.
func instanceOf(rows []db.Row) *int {
	var any *int
	for _, r := range rows {
		if r.InstanceIndex == nil {
			continue
		}
		if r.Live() {
			return r.InstanceIndex
		}
		if any == nil {
			any = r.InstanceIndex
		}
	}
	return any
}

func instanceName(i *int) string {
	if i == nil {
		return unassigned
	}
	return strconv.Itoa(*i)
}

func perInstance(rows []db.Row, verdicts *verdictSet) []InstanceSummary {
	by := map[string]*InstanceSummary{}
	get := func(name string) *InstanceSummary {
		if by[name] == nil {
			by[name] = &InstanceSummary{Instance: name}
		}
		return by[name]
	}
	for _, r := range rows {
		if r.Live() {
			get(instanceName(r.InstanceIndex)).Rows++
		}
	}
	for v := range verdicts.all() {
		is := get(instanceName(instanceOf(v.Rows)))
		if v.Kind.IsFinding() {
			is.Findings++
		}
		if m := v.measured; m != nil {
			u := m.usage
			is.Sessions++
			is.Bytes += u.Size
			is.MeteredBytes += u.Metered
			is.RegenerableBytes += m.parts.regen
			is.KeyFiles += int64(m.parts.keys)
		}
	}
	out := make([]InstanceSummary, 0, len(by))
	for _, is := range by {
		out = append(out, *is)
	}
	sortInstances(out)
	return out
}

// sortInstances orders instances by index, numbers first, then by name
// ("unassigned").
func sortInstances(out []InstanceSummary) {
	slices.SortFunc(out, func(a, b InstanceSummary) int {
		ai, aerr := strconv.Atoi(a.Instance)
		bi, berr := strconv.Atoi(b.Instance)
		switch {
		case aerr == nil && berr == nil:
			return cmp.Compare(ai, bi)
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		}
		return cmp.Compare(a.Instance, b.Instance)
	})
}

func newReport(cfg Config, started time.Time, rows []db.Row, d *disk, verdicts *verdictSet) *Report {
	s := Summary{
		DryRun: cfg.DryRun, Root: cfg.Root, PathPrefix: cfg.PathPrefix, MinAgeSeconds: cfg.MinAge.Seconds(),
		MaxUnverifiedSeconds: cfg.MaxUnverified.Seconds(),
		Scope:                cfg.Scope.String(), Shard: cfg.Scope.Shard().String(),
		StartedAt: started, Rows: len(rows), Outcomes: map[Outcome]int{},
	}
	s.Workspaces, _ = cfg.Scope.Listed()
	for _, o := range outcomeOrder {
		s.Outcomes[o] = 0
	}
	for _, r := range rows {
		if r.Live() {
			s.LiveRows++
		}
	}
	if d == nil {
		d = &disk{}
	}
	t := &d.tally
	s.Sessions, s.Files, s.Bytes, s.AllocatedBytes, s.MeteredBytes = t.sessions, t.files, t.bytes, t.allocated, t.metered
	s.LargestSessions, s.LargestWorkspaces, s.WorkspacesMeasured = t.largest.result()
	s.Anatomy = t.anatomy.result()
	findings, recent := []Finding{}, []Finding{}
	for v := range verdicts.all() {
		s.Outcomes[v.Kind]++
		switch {
		case v.Kind.IsFinding():
			f := v.Finding
			f.Instance = instanceOf(v.Rows)
			findings = append(findings, f)
		case v.Kind == Recent:
			f := v.Finding
			f.Instance = instanceOf(v.Rows)
			recent = append(recent, f)
		}
	}
	if cfg.PerInstance && verdicts != nil {
		s.Instances = perInstance(rows, verdicts)
	}
	sortFindings(findings)
	sortFindings(recent)
	s.Findings = len(findings)
	return &Report{Summary: s, Findings: findings, Recent: recent}
}

func (r *Report) finish(at time.Time) {
	r.Summary.Complete = true
	r.Summary.FinishedAt = at
	r.Summary.DurationSeconds = at.Sub(r.Summary.StartedAt).Seconds()
}
