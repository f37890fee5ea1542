package reconcile

import (
	"iter"
	"time"

	"sessaudit/scanner"
)

// seen is what was found at a session path, as the audit keeps it for every
// session of the share: a scanner.Entry without its path, workspace and
// session id (the observation has them) and with the strings it seldom has
// behind one pointer. An Entry cost 208 bytes and a session id string;
// seen costs 168, 48 of them the session's anatomy (parts).
type seen struct {
	m      measurement
	newest time.Time
	// note holds the reason, error and change, when the entry had any.
	note       *note
	kind       scanner.Kind // 0: nothing is there
	listedOnly bool
}

// measurement is the size and identity of a measured directory: what a
// verified verdict writes and looks at again.
type measurement struct {
	usage scanner.Usage
	id    scanner.Identity
	parts parts
}

type note struct {
	reason  string
	err     error
	changed string
	// oldest and written are the entry's Oldest and Written, kept for a
	// changed one: the live rule compares them with a second measurement.
	oldest, written time.Time
}

// seenOf returns e as the audit keeps it; nil means nothing is there.
func seenOf(e *scanner.Entry) seen {
	if e == nil {
		return seen{}
	}
	s := seen{m: measurement{usage: e.Usage, id: e.Identity, parts: partsOf(e)}, newest: e.Newest, kind: e.Kind, listedOnly: e.ListedOnly}
	if e.Reason != "" || e.Err != nil || e.Changed != "" {
		s.note = &note{reason: e.Reason, err: e.Err, changed: e.Changed}
		if e.Changed != "" {
			s.note.oldest, s.note.written = e.Oldest, e.Written
		}
	}
	return s
}

func (s *seen) reason() string {
	if s.note == nil {
		return ""
	}
	return s.note.reason
}

func (s *seen) err() error {
	if s.note == nil {
		return nil
	}
	return s.note.err
}

func (s *seen) changed() string {
	if s.note == nil {
		return ""
	}
	return s.note.changed
}

// measured reports whether a directory was measured there, without error.
func (s *seen) measured() bool {
	return s.kind == scanner.KindSession && s.err() == nil && !s.listedOnly
}

// observations holds the observations of the session paths the walk found,
// in blocks that never move: verdicts point into them, and a slice grown by
// append would hold a copy and a quarter more while it grows.
type observations struct {
	blocks [][]Observation
	n      int
}

// observationsBlock is the number of observations in each block: 800 KB.
const observationsBlock = 4096

// add appends o and returns where it is kept.
func (s *observations) add(o Observation) *Observation {
	if s.n%observationsBlock == 0 {
		s.blocks = append(s.blocks, make([]Observation, 0, observationsBlock))
	}
	b := &s.blocks[len(s.blocks)-1]
	*b = append(*b, o)
	s.n++
	return &(*b)[len(*b)-1]
}

// len returns the number of observations.
func (s *observations) len() int { return s.n }

// all yields every observation.
func (s *observations) all() iter.Seq[*Observation] {
	return func(yield func(*Observation) bool) {
		for _, b := range s.blocks {
			for i := range b {
				if !yield(&b[i]) {
					return
				}
			}
		}
	}
}

// tally adds up the session directories measured, for the summary, as the
// walk finds them.
type tally struct {
	sessions                         int
	files, bytes, allocated, metered int64
	largest                          largestTally
	anatomy                          anatomyTally
}

// add counts e when it is a session directory measured without error.
func (t *tally) add(e *scanner.Entry) {
	if e.Kind != scanner.KindSession || e.Err != nil || e.ListedOnly {
		return
	}
	t.sessions++
	t.files += e.Usage.Files
	t.bytes += e.Usage.Size
	t.allocated += e.Usage.Allocated
	t.metered += e.Usage.Metered
	t.largest.add(e)
	t.anatomy.add(e)
}

// verdictSet is the verdicts of an audit. Most sessions of a share are
// verified, with nothing to list: those are kept as their observations, 8
// bytes each, rather than as verdicts, 144 (a million of them were the
// largest thing the audit held while it looked again), and made verdicts
// again one at a time as they are read. So are the paths where nothing is
// and whose rows need no second look and are neither listed nor written
// (see countedOutcome): a real table has many rows among the verified ones
// whose account was deleted (cleaned) or keeps no session files (no_path),
// and a verdict of its own for each cost more to judge than the row's
// write.
type verdictSet struct {
	listed []Verdict
	// verified are observations whose one verdict is Verified.
	verified []*Observation
	// counted are observations whose one verdict is countedOutcome's.
	counted []*Observation
}

// len returns the number of verdicts.
func (vs *verdictSet) len() int {
	if vs == nil {
		return 0
	}
	return len(vs.listed) + len(vs.verified) + len(vs.counted)
}

// all yields every verdict: the listed ones, the verified ones, then the
// counted ones. A verified or counted one is made for the call: the
// Verdict yielded is valid until the next, and is copied to be kept.
func (vs *verdictSet) all() iter.Seq[*Verdict] {
	return func(yield func(*Verdict) bool) {
		if vs == nil {
			return
		}
		for i := range vs.listed {
			if !yield(&vs.listed[i]) {
				return
			}
		}
		var v Verdict
		for _, o := range vs.verified {
			v = verifiedVerdict(o)
			if !yield(&v) {
				return
			}
		}
		for _, o := range vs.counted {
			v = countedVerdict(o)
			if !yield(&v) {
				return
			}
		}
	}
}

// verifiedVerdict is the verdict of an observation judged verified: what
// present returns for it.
func verifiedVerdict(o *Observation) Verdict {
	return verdict(o, Verified, o.Rows, "")
}

// countedOutcome returns the one outcome of o when it is one that is only
// counted, with nothing to look at again, write or list: nothing is at its
// path (and its workspace was listed), and either all its rows are
// soft-deleted (cleaned) or it has one live row, of its own workspace, with
// no stored path (no_path). It returns "" for any other observation. It
// is what appendJudged gives such an observation.
func countedOutcome(o *Observation) Outcome {
	if o.at.kind != 0 || o.WorkspaceErr != nil || len(o.Rows) == 0 {
		return ""
	}
	if len(o.Rows) == 1 {
		r := &o.Rows[0]
		switch {
		case !r.Live():
			return Cleaned
		case r.StoragePath == nil && r.WorkspaceID == o.Workspace:
			return NoPath
		}
		return ""
	}
	for i := range o.Rows {
		if o.Rows[i].Live() {
			return ""
		}
	}
	return Cleaned
}

// countedVerdict is the verdict of an observation whose outcome is
// countedOutcome's, with its Finding left bare, as a verified one's (see
// complete): what absent returns for it.
func countedVerdict(o *Observation) Verdict {
	return Verdict{Finding: Finding{Kind: countedOutcome(o), Path: o.Path}, Rows: o.Rows}
}
