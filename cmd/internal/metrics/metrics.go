package metrics

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sessaudit/cmd/internal/version"
	"sessaudit/reconcile"
	"sessaudit/scanner/anatomy"
)

// Run is what one run of sessaudit tells the metrics file.
type Run struct {
	Started  time.Time
	Finished time.Time
	// Success is true when the run audited (exit 0 or 1), false when it
	// could not (exit 2).
	Success bool
	// Report is the audit's report. Its counts are written only for a
	// successful run: a failed one's are partial or missing, and a zero
	// would read as "nothing found".
	Report *reconcile.Report
	// FilesystemCalls is how many filesystem calls the run made (fs_ops); a
	// negative value leaves the series out.
	FilesystemCalls int64
	// Shard labels every series with shard="<Shard>" when the run audited
	// one shard of the workspaces; empty for a whole run.
	Shard string
	// Build is the binary that ran, for sessaudit_build_info; the zero
	// value leaves that series out.
	Build version.Build
}

// Series and label names.
const (
	prefix          = "sessaudit_"
	lastSuccessName = prefix + "last_success_timestamp_seconds"
	// assignedInstance is not "instance", which Prometheus gives the
	// scraped target.
	assignedInstance = "assigned_instance"
	labelShard       = "shard"
	labelKind        = "kind"
	labelType        = "type"
	typeSize         = "size"
	typeAllocated    = "allocated"
	typeMet          = "metered"
)

// registry holds the series of run, each labelled shard="<shard>" unless
// shard is empty.
func registry(run Run, shard string, lastSuccess time.Time, haveLastSuccess bool) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	m := newSeries(reg, shard)
	m.set(run)
	if haveLastSuccess {
		m.gauge(lastSuccessName, "Unix time the last successful sessaudit run (exit 0 or 1) ended; carried over failed runs.").
			Set(unix(lastSuccess))
	}
	return reg
}

// BuildInfo is sessaudit_build_info, always 1, labelled with the binary's
// version, VCS revision and Go version, and with labels: the audit's
// metrics and the watcher's /metrics carry it.
func BuildInfo(b version.Build, labels prometheus.Labels) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        prefix + "build_info",
		Help:        "Always 1: the version, VCS revision and Go version of the sessaudit binary.",
		ConstLabels: labels,
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	return g
}

// series registers the gauges of one file.
type series struct {
	reg    prometheus.Registerer
	labels prometheus.Labels // on every series
}

func newSeries(reg prometheus.Registerer, shard string) *series {
	s := &series{reg: reg}
	if shard != "" {
		s.labels = prometheus.Labels{labelShard: shard}
	}
	return s
}

func (s *series) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: s.labels})
	s.reg.MustRegister(g)
	return g
}

func (s *series) vec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: s.labels}, labels)
	s.reg.MustRegister(g)
	return g
}

func (s *series) set(run Run) {
	s.gauge(prefix+"last_run_start_timestamp_seconds", "Unix time the last sessaudit run started.").Set(unix(run.Started))
	s.gauge(prefix+"last_run_end_timestamp_seconds", "Unix time the last sessaudit run ended.").Set(unix(run.Finished))
	s.gauge(prefix+"last_run_duration_seconds", "How long the last sessaudit run took.").Set(run.Finished.Sub(run.Started).Seconds())
	success := 0.0
	if run.Success {
		success = 1
	}
	s.gauge(prefix+"last_run_success", "1 when the last sessaudit run audited (exit 0 or 1), 0 when it could not (exit 2).").Set(success)
	if run.Build != (version.Build{}) {
		s.reg.MustRegister(BuildInfo(run.Build, s.labels))
	}
	if run.FilesystemCalls >= 0 {
		s.gauge(prefix+"filesystem_calls", "Filesystem calls the last run made (its fs_ops).").Set(float64(run.FilesystemCalls))
	}
	if !run.Success || run.Report == nil {
		return
	}
	sum := run.Report.Summary
	s.gauge(prefix+"sessions", "Session directories measured by the last successful run.").Set(float64(sum.Sessions))
	s.gauge(prefix+"files", "Regular files in the session directories measured.").Set(float64(sum.Files))
	bytes := s.vec(prefix+"bytes", "Bytes in the session directories measured: size (st_size), allocated (st_blocks), metered (as EFS bills).", labelType)
	bytes.WithLabelValues(typeSize).Set(float64(sum.Bytes))
	bytes.WithLabelValues(typeAllocated).Set(float64(sum.AllocatedBytes))
	bytes.WithLabelValues(typeMet).Set(float64(sum.MeteredBytes))
	s.gauge(prefix+"rows", "Rows of the accounts table read, live and soft-deleted.").Set(float64(sum.Rows))
	s.gauge(prefix+"live_rows", "Live rows (deleted_at IS NULL) read.").Set(float64(sum.LiveRows))
	s.gauge(prefix+"rows_written", "Verified rows whose size and verification time were written.").Set(float64(sum.RowsWritten))
	s.gauge(prefix+"rows_changed_meanwhile", "Verified rows left alone because the application changed them during the run.").Set(float64(sum.RowsChanged))
	s.gauge(prefix+"rows_unverified", "Live rows whose directory is there but that were not verified for longer than --max-unverified (never verified: since created): the unverified findings.").Set(float64(sum.Outcomes[reconcile.Unverified]))

	s.gauge(prefix+"sessions_incomplete", "Session directories missing what restores them (webjs without Default/IndexedDB or Default/Local Storage; baileys without a usable creds.json): the incomplete findings.").Set(float64(sum.Outcomes[reconcile.Incomplete]))
	s.gauge(prefix+"sessions_bloated", "Session directories over --bloated-key-files or --bloated-cache-mib: the bloated findings.").Set(float64(sum.Outcomes[reconcile.Bloated]))
	s.anatomy(run.Report)

	findings := s.vec(prefix+"findings", "Findings of the last successful run by kind; every kind, 0 included.", labelKind)
	findingBytes := s.vec(prefix+"finding_bytes", "Bytes of the session directories behind the findings of each kind (size, metered); orphan and soft_deleted are space to reclaim.", labelKind, labelType)
	for _, kind := range reconcile.Outcomes() {
		if !kind.IsFinding() {
			continue
		}
		findings.WithLabelValues(string(kind)).Set(float64(sum.Outcomes[kind]))
		findingBytes.WithLabelValues(string(kind), typeSize)
		findingBytes.WithLabelValues(string(kind), typeMet)
	}
	for _, f := range run.Report.Findings {
		if f.SizeBytes != nil {
			findingBytes.WithLabelValues(string(f.Kind), typeSize).Add(float64(*f.SizeBytes))
		}
		if f.MeteredBytes != nil {
			findingBytes.WithLabelValues(string(f.Kind), typeMet).Add(float64(*f.MeteredBytes))
		}
	}

	// Where the space is, by workspace: the LargestCount largest of the run
	// (of the shard), so that a dashboard can follow them over time without
	// a series for every workspace of the share.
	wsBytes := s.vec(prefix+"largest_workspace_bytes", "Bytes of the largest workspaces' session directories (size, metered): the ten largest of the run.", "workspace_id", labelType)
	wsSessions := s.vec(prefix+"largest_workspace_sessions", "Session directories of each of the ten largest workspaces of the run.", "workspace_id")
	for _, w := range sum.LargestWorkspaces {
		id := strconv.FormatUint(w.WorkspaceID, 10)
		wsBytes.WithLabelValues(id, typeSize).Set(float64(w.SizeBytes))
		wsBytes.WithLabelValues(id, typeMet).Set(float64(w.MeteredBytes))
		wsSessions.WithLabelValues(id).Set(float64(w.Sessions))
	}

	if len(sum.Instances) == 0 {
		return
	}
	rows := s.vec(prefix+"instance_live_rows", "Live rows by assigned_instance_index (\"unassigned\" when NULL).", assignedInstance)
	sessions := s.vec(prefix+"instance_sessions", "Session directories measured, by the assigned instance of their rows.", assignedInstance)
	instBytes := s.vec(prefix+"instance_bytes", "Bytes of the session directories measured (size, metered), by the assigned instance of their rows.", assignedInstance, labelType)
	instFindings := s.vec(prefix+"instance_findings", "Findings, by the assigned instance of the rows involved.", assignedInstance)
	instRegen := s.vec(prefix+"instance_regenerable_bytes", "Bytes of regenerable cache (webjs) in the session directories measured, by the assigned instance of their rows.", assignedInstance)
	instKeys := s.vec(prefix+"instance_key_files", "Baileys key files in the session directories measured, by the assigned instance of their rows.", assignedInstance)
	for _, is := range sum.Instances {
		rows.WithLabelValues(is.Instance).Set(float64(is.Rows))
		sessions.WithLabelValues(is.Instance).Set(float64(is.Sessions))
		instBytes.WithLabelValues(is.Instance, typeSize).Set(float64(is.Bytes))
		instBytes.WithLabelValues(is.Instance, typeMet).Set(float64(is.MeteredBytes))
		instFindings.WithLabelValues(is.Instance).Set(float64(is.Findings))
		instRegen.WithLabelValues(is.Instance).Set(float64(is.RegenerableBytes))
		instKeys.WithLabelValues(is.Instance).Set(float64(is.KeyFiles))
	}
}

// anatomy sets what the sessions measured are made of (docs/anatomy.md):
// every kind and every key type, 0 included, so that a rule or a panel
// never finds a series missing.
func (s *series) anatomy(rep *reconcile.Report) {
	a := rep.Summary.Anatomy
	kinds := s.vec(prefix+"kind_sessions", "Session directories measured, by kind: webjs (a Chromium profile), baileys (a multi-file auth state), empty, unknown.", labelKind)
	kindBytes := s.vec(prefix+"kind_bytes", "Bytes (size) of the session directories measured, by kind.", labelKind)
	for _, k := range anatomy.Kinds() {
		kinds.WithLabelValues(string(k))
		kindBytes.WithLabelValues(string(k))
	}
	for _, k := range a.Kinds {
		kinds.WithLabelValues(string(k.Kind)).Set(float64(k.Sessions))
		kindBytes.WithLabelValues(string(k.Kind)).Set(float64(k.SizeBytes))
	}
	parts := s.vec(prefix+"part_bytes", "Bytes (size) of the session directories measured, by part: state (what restores a session) and regenerable (a webjs profile's cache, which Chromium rebuilds).", "part")
	parts.WithLabelValues("state").Set(float64(a.StateBytes))
	parts.WithLabelValues("regenerable").Set(float64(a.RegenerableBytes))
	s.gauge(prefix+"regenerable_metered_bytes", "Metered bytes (as EFS bills) of regenerable cache in the session directories measured.").Set(float64(a.RegenerableMeteredBytes))
	keys := s.vec(prefix+"key_files", "Baileys key files in the session directories measured, by type (pre-key, session, sender-key, ...).", labelType)
	for _, typ := range anatomy.KeyTypes() {
		keys.WithLabelValues(typ).Set(float64(a.KeyFiles[typ].Files))
	}
	var reclaimable int64
	for _, f := range rep.Findings {
		if f.Kind == reconcile.Bloated && f.ReclaimableBytes != nil {
			reclaimable += *f.ReclaimableBytes
		}
	}
	s.gauge(prefix+"bloated_reclaimable_bytes", "Regenerable bytes of the bloated webjs sessions: cache Chromium rebuilds, reclaimable once they are stopped.").Set(float64(reclaimable))
}

// unix is t in Unix seconds to the millisecond, which prints short.
// previousSuccess reads the time of the last success of the same shard from
// the metrics file at path, if there is one and it can be read.
func previousSuccess(path, shard string) (time.Time, bool) {
	text := readRegular(path)
	if text == nil {
		return time.Time{}, false
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return time.Time{}, false
	}
	mf := families[lastSuccessName]
	if mf == nil {
		return time.Time{}, false
	}
	for _, m := range mf.GetMetric() {
		if labelValue(m, labelShard) != shard || m.GetGauge() == nil {
			continue
		}
		return time.UnixMilli(int64(math.Round(m.GetGauge().GetValue() * 1e3))), true
	}
	return time.Time{}, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
