package watchmode

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	runmetrics "sessaudit/cmd/internal/metrics"
	"sessaudit/cmd/internal/version"
	"sessaudit/reconcile"
	"sessaudit/scanner/watch"
)

const namespace = "sessaudit_watch"

// metrics are the Runner's series, in a registry of its own.
type metrics struct {
	reg    *prometheus.Registry
	r      *Runner
	labels prometheus.Labels

	reconciled         prometheus.Counter
	reconcileErrors    prometheus.Counter
	rowsWritten        prometheus.Counter
	findings           *prometheus.CounterVec
	overflows          prometheus.Counter
	rescans            *prometheus.CounterVec
	rescanFailures     prometheus.Counter
	lastRescan         prometheus.Gauge
	lastRescanDuration prometheus.Gauge
	dbUp               prometheus.Gauge
}

func newMetrics(r *Runner, labels map[string]string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), r: r, labels: labels}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help, ConstLabels: labels})
		m.reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help, ConstLabels: labels})
		m.reg.MustRegister(g)
		return g
	}
	m.reconciled = counter("sessions_reconciled_total", "Sessions reconciled one at a time after their events.")
	m.reconcileErrors = counter("reconcile_errors_total", "Session reconciles that failed (to be retried).")
	m.rowsWritten = counter("rows_written_total", "Rows whose verified size was written, by session reconciles and rescans.")
	m.overflows = counter("event_overflows_total", "Times the kernel's event queue overflowed (each brings a rescan).")
	m.rescanFailures = counter("rescan_failures_total", "Rescans that failed.")
	m.lastRescan = gauge("last_rescan_timestamp_seconds", "When the last successful rescan started, in seconds since the epoch.")
	m.lastRescanDuration = gauge("last_rescan_duration_seconds", "How long the last successful rescan took.")
	m.dbUp = gauge("database_up", "1 while the database answers and the shard's lock is held.")
	m.dbUp.Set(1)

	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "findings_total", ConstLabels: labels,
		Help: "Findings logged, by kind; a finding is logged when it appears, not again while it stands.",
	}, []string{"kind"})
	for _, o := range reconcile.Outcomes() {
		if o.IsFinding() {
			m.findings.WithLabelValues(string(o))
		}
	}
	m.reg.MustRegister(m.findings)
	m.rescans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rescans_total", ConstLabels: labels,
		Help: "Rescans of the whole scope, by reason: start, interval, overflow, database (it came back), retry, root (it was replaced or mounted again).",
	}, []string{"reason"})
	for _, reason := range []string{reasonStart, reasonInterval, reasonOverflow, reasonDatabase, reasonRetry, reasonRoot} {
		m.rescans.WithLabelValues(reason)
	}
	m.reg.MustRegister(m.rescans)

	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "queue_depth", ConstLabels: labels,
		Help: "Sessions waiting to be reconciled.",
	}, func() float64 { return float64(r.queue.Len()) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "ready", ConstLabels: labels,
		Help: "1 when the first rescan is done and the database is up (as /readyz).",
	}, func() float64 {
		if ok, _ := r.Ready(); ok {
			return 1
		}
		return 0
	}))
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(runmetrics.BuildInfo(version.CurrentBuild(), labels))
	return m
}

// unverified registers sessaudit_rows_unverified, sessaudit_sessions_incomplete
// and sessaudit_sessions_bloated, read from the findings standing now: the
// names the audit's metrics file gives the same counts, so that one alert
// covers both.
func (m *metrics) unverified(found *findingLog) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessaudit_rows_unverified", ConstLabels: m.labels,
		Help: "Live rows whose directory is there but that were not verified for longer than --max-unverified: the unverified findings standing now.",
	}, func() float64 { return float64(found.standingOf(reconcile.Unverified)) }))
	// The names of the audit's counts of the same findings, for the same
	// alert.
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessaudit_sessions_incomplete", ConstLabels: m.labels,
		Help: "Session directories missing what restores them: the incomplete findings standing now.",
	}, func() float64 { return float64(found.standingOf(reconcile.Incomplete)) }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sessaudit_sessions_bloated", ConstLabels: m.labels,
		Help: "Session directories over --bloated-key-files or --bloated-cache-mib: the bloated findings standing now.",
	}, func() float64 { return float64(found.standingOf(reconcile.Bloated)) }))
}

// watchStats registers the series read from the watcher's counters.
func (m *metrics) watchStats(stats func() watch.Stats) {
	gaugeFunc := func(name, help string, f func(watch.Stats) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: name, Help: help, ConstLabels: m.labels,
		}, func() float64 { return f(stats()) }))
	}
	counterFunc := func(name, help string, f func(watch.Stats) float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Name: name, Help: help, ConstLabels: m.labels,
		}, func() float64 { return f(stats()) }))
	}
	counterFunc("events_total", "Filesystem events received.", func(s watch.Stats) float64 { return float64(s.Events) })
	gaugeFunc("watches", "Directories watched now.", func(s watch.Stats) float64 { return float64(s.Watches) })
	gaugeFunc("watch_budget", "The most directories watched at once (--max-watches).", func(s watch.Stats) float64 { return float64(s.Budget) })
	counterFunc("watch_budget_exhausted_total", "Directories left unwatched because the watch budget was spent; rescans cover them.",
		func(s watch.Stats) float64 { return float64(s.Unwatched) })
}
