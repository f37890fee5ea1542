package metrics

import (
	"bytes"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sessaudit/reconcile/reclaim"
	"sessaudit/scanner/quarantine"
)

// Command is a command that writes a metrics file. Reclaim, Restore and
// Purge, which move and delete quarantined directories, write an Op and
// name its series: sessaudit_<command>_...; Audit writes a Run.
type Command string

// The commands with an Op.
const (
	Reclaim Command = "reclaim"
	// ReclaimCaches is reclaim --caches: series of its own
	// (sessaudit_reclaim_caches_...), so that its file and reclaim's can be
	// collected side by side.
	ReclaimCaches Command = "reclaim_caches"
	Restore       Command = "restore"
	Purge         Command = "purge"
)

// title is how the command is written in the series' help.
func (c Command) title() string {
	if c == ReclaimCaches {
		return "reclaim --caches"
	}
	return string(c)
}

// reclaims reports whether c moves into quarantine (reclaim, with or
// without --caches).
func (c Command) reclaims() bool { return c == Reclaim || c == ReclaimCaches }

// Values of the result label of sessaudit_<command>_directories and
// sessaudit_<command>_bytes, and of sessaudit_purge_runs.
const (
	resultMoved       = "moved"
	resultPlanned     = "planned" // reclaim and purge without --yes
	resultSkipped     = "skipped"
	resultNotLookedAt = "not_looked_at"
	resultRestored    = "restored"
	resultBack        = "already_back"
	resultNotMoved    = "not_moved"
	resultNotRestored = "not_restored"
	resultPurged      = "purged"
	resultKept        = "kept"
	resultRemoved     = "removed"
	resultTooYoung    = "too_young"
	resultIgnored     = "ignored"
	labelResult       = "result"
	labelReason       = "reason"
)

// results are the values of the result label of each command's
// directories and bytes, every one written, 0 included.
var results = map[Command][]string{
	Reclaim:       {resultMoved, resultPlanned, resultSkipped, resultNotLookedAt},
	ReclaimCaches: {resultMoved, resultPlanned, resultSkipped, resultNotLookedAt},
	Restore:       {resultRestored, resultBack, resultNotMoved, resultNotRestored},
	Purge:         {resultPurged, resultPlanned, resultKept},
}

// purgeRunResults are the values of the result label of sessaudit_purge_runs.
var purgeRunResults = []string{resultRemoved, resultTooYoung, resultKept, resultIgnored}

// tally is a count of directories and their bytes.
type tally struct{ dirs, bytes int64 }

func (t *tally) add(bytes int64) { t.dirs++; t.bytes += bytes }

// Op is one run of reclaim, restore or purge, as its metrics file tells
// it: when it ran, whether it could do its work, whether it was a plan, and
// its directories and bytes by what happened to them. Build it with
// NewOp, count each step of the command as it is dealt with, and write it
// when the command ends. Its methods are not safe for concurrent use.
type Op struct {
	command           Command
	started, finished time.Time
	success           bool
	plan              bool
	results           map[string]*tally // by result
	skipped           map[string]*tally // reclaim's, by cause
	runs              map[string]int64  // purge's, by result
	passedOver        map[string]int    // reclaim --caches', by reason
}

// NewOp starts the tally of a run of command that started at started;
// plan is true for a run without --yes.
func NewOp(command Command, started time.Time, plan bool) *Op {
	op := &Op{command: command, started: started, plan: plan && command != Restore,
		results: map[string]*tally{}, skipped: map[string]*tally{}, runs: map[string]int64{}, passedOver: map[string]int{}}
	for _, r := range results[command] {
		op.results[r] = &tally{}
	}
	if command.reclaims() {
		for _, c := range reclaim.Causes() {
			op.skipped[c] = &tally{}
		}
	}
	return op
}

// Reclaimed counts one step of reclaim. A directory moved (or planned) is
// counted with its size as measured just before the move; one skipped with
// its size as the audit measured it, since it may not have been measured
// again.
func (o *Op) Reclaimed(s reclaim.Step) {
	switch s.Action {
	case reclaim.Moved:
		o.results[resultMoved].add(s.SizeBytes)
	case reclaim.Planned:
		o.results[resultPlanned].add(s.SizeBytes)
	case reclaim.Skipped:
		o.results[resultSkipped].add(s.Candidate.SizeBytes)
		if t := o.skipped[s.Cause]; t != nil {
			t.add(s.Candidate.SizeBytes)
		}
	}
}

// NotLookedAt counts the candidates reclaim left for another run
// (--max-moves), with their sizes as the audit measured them.
func (o *Op) NotLookedAt(cands []reclaim.Candidate) {
	for _, c := range cands {
		o.results[resultNotLookedAt].add(c.SizeBytes)
	}
}

// PassedOver counts the sessions reclaim --caches passed over, by why
// (reclaim.Result.PassedOver).
func (o *Op) PassedOver(by map[string]int) {
	for why, n := range by {
		o.passedOver[why] += n
	}
}

// Restored counts one step of restore, with the size its manifest recorded.
func (o *Op) Restored(s quarantine.Step) {
	r := map[string]string{
		quarantine.Restored: resultRestored, quarantine.AlreadyBack: resultBack,
		quarantine.NotMoved: resultNotMoved, quarantine.NotRestored: resultNotRestored,
	}[s.Action]
	if t := o.results[r]; t != nil {
		t.add(s.SizeBytes)
	}
}

// Purged counts one step of purge: a directory (deleted, to be deleted, or
// left alone), with the size its manifest recorded, or a run too young or
// not a run at all. PurgedRuns counts the rest of the runs.
func (o *Op) Purged(s quarantine.Step) {
	switch s.Action {
	case quarantine.Deleted:
		o.results[resultPurged].add(s.SizeBytes)
	case quarantine.WouldDelete:
		o.results[resultPlanned].add(s.SizeBytes)
	case quarantine.NotDeleted:
		o.results[resultKept].add(s.SizeBytes)
	case quarantine.TooYoung:
		o.runs[resultTooYoung]++
	case quarantine.Ignored:
		o.runs[resultIgnored]++
	}
}

// PurgedRuns counts the runs of purge's result: those removed, and those
// old enough but kept, because the run was a plan or something in them
// needs a look. Call it after the steps.
func (o *Op) PurgedRuns(res quarantine.Result) {
	o.runs[resultRemoved] = int64(res.RunsRemoved)
	o.runs[resultKept] = int64(res.Runs-res.RunsRemoved) - o.runs[resultTooYoung]
}

// End records that the run ended at finished; success is true when the
// command did its work (exit 0 or 1), false when it could not (exit 2).
func (o *Op) End(finished time.Time, success bool) {
	o.finished, o.success = finished, success
}

// opRegistry holds the series of op.
//
// The counts are written for a failed run too: they are what the run did
// before it stopped (a reclaim whose database went away has still moved
// what it moved), and a run that failed before it began counts zero.
func opRegistry(op *Op) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	s := newSeries(reg, "")
	cmd := op.command.title()
	p := prefix + string(op.command) + "_"
	s.gauge(p+"last_run_start_timestamp_seconds", "Unix time the last sessaudit "+cmd+" started.").Set(unix(op.started))
	s.gauge(p+"last_run_end_timestamp_seconds", "Unix time the last sessaudit "+cmd+" ended.").Set(unix(op.finished))
	s.gauge(p+"last_run_duration_seconds", "How long the last sessaudit "+cmd+" took.").Set(op.finished.Sub(op.started).Seconds())
	s.gauge(p+"last_run_success", "1 when the last sessaudit "+cmd+" did its work (exit 0 or 1), 0 when it could not (exit 2).").Set(boolValue(op.success))
	if op.command != Restore {
		s.gauge(p+"last_run_plan", "1 when the last sessaudit "+cmd+" was a plan (no --yes): it changed nothing.").Set(boolValue(op.plan))
	}
	dirs := s.vec(p+"directories", "Session directories of the last sessaudit "+cmd+", by result.", labelResult)
	byts := s.vec(p+"bytes", "Bytes (st_size) of those directories, by result.", labelResult)
	for _, r := range results[op.command] {
		dirs.WithLabelValues(r).Set(float64(op.results[r].dirs))
		byts.WithLabelValues(r).Set(float64(op.results[r].bytes))
	}
	switch op.command {
	case Reclaim, ReclaimCaches:
		dirs := s.vec(p+"skipped_directories", "Directories the last "+cmd+" left alone, by why: a check just before the move failed.", labelReason)
		byts := s.vec(p+"skipped_bytes", "Bytes (st_size, as the audit measured them; of reclaim --caches, the session's regenerable bytes) of the directories left alone, by why.", labelReason)
		for _, c := range reclaim.Causes() {
			dirs.WithLabelValues(c).Set(float64(op.skipped[c].dirs))
			byts.WithLabelValues(c).Set(float64(op.skipped[c].bytes))
		}
		if op.command == ReclaimCaches {
			passed := s.vec(p+"passed_over_sessions", "Sessions the last reclaim --caches passed over, by why: not candidates (no live row, running, status unknown, recently changed, nothing regenerable).", labelReason)
			for _, why := range reclaim.PassReasons() {
				passed.WithLabelValues(why).Set(float64(op.passedOver[why]))
			}
		}
	case Purge:
		runs := s.vec(p+"runs", "Entries of the quarantine directory the last purge looked at, by result: runs removed, too young, or old enough but kept (a plan, or something in them needs a look), and entries that are not runs (ignored).", labelResult)
		for _, r := range purgeRunResults {
			runs.WithLabelValues(r).Set(float64(op.runs[r]))
		}
	}
	return reg
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writer names the command whose metrics file is at path ("audit",
// "reclaim", ...), or "" when there is none or it cannot be told.
func writer(path string) Command {
	text := readRegular(path)
	if text == nil {
		return ""
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return ""
	}
	const suffix = "_last_run_success"
	for name := range families {
		switch {
		case name == prefix+"last_run_success":
			return Audit
		case strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix):
			return Command(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix))
		}
	}
	return ""
}
