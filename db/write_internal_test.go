package db

import (
	"math"
	"slices"
	"testing"
)

// TestRunsOf checks the form runsOf gives a chunk: the runs and the slots
// of ELT's list, or a list of ids (nil).
func TestRunsOf(t *testing.T) {
	ids := func(ns ...uint64) []SizeUpdate {
		rows := make([]SizeUpdate, len(ns))
		for i, n := range ns {
			rows[i].ID = n
		}
		return rows
	}
	span := func(first, last, step uint64) []uint64 {
		var out []uint64
		for n := first; n <= last; n += step {
			out = append(out, n)
		}
		return out
	}
	tests := []struct {
		name string
		ids  []uint64
		want []run // nil: a list of ids
	}{
		{"dense", span(1, 100, 1), []run{{1, 100, 0}}},
		{"holes up to maxHole stay in the run", append(span(1, 10, 1), 11+maxHole, 12+maxHole, 13+maxHole, 14+maxHole),
			[]run{{1, 14 + maxHole, 0}}},
		{"a longer hole ends the run", append(span(1, 10, 1), 12+maxHole, 13+maxHole, 14+maxHole, 15+maxHole),
			[]run{{1, 10, 0}, {12 + maxHole, 15 + maxHole, 10}}},
		{"one in four", span(5, 400, 4), []run{{5, 397, 0}}},
		{"one in five: too many slots, then too short runs", span(5, 500, 5), nil},
		{"runs of 8 with holes of 31: split again at smaller holes",
			slices.Concat(span(1, 8, 1), span(40, 47, 1), span(79, 86, 1), span(118, 125, 1), span(157, 164, 1)),
			[]run{{1, 8, 0}, {40, 47, 8}, {79, 86, 16}, {118, 125, 24}, {157, 164, 32}}},
		{"runs of 8 with holes of 31, four of them: within bounds",
			slices.Concat(span(1, 8, 1), span(40, 47, 1), span(79, 86, 1), span(118, 125, 1)),
			[]run{{1, 125, 0}}},
		{"runs shorter than minRowsPerRun", []uint64{1, 2, 3, 100, 200, 300, 400}, nil},
		{"ids past 2^63", []uint64{math.MaxInt64 - 1, math.MaxInt64, math.MaxInt64 + 1}, nil},
		{"up to 2^63, one short run", []uint64{math.MaxInt64 - 1, math.MaxInt64}, []run{{math.MaxInt64 - 1, math.MaxInt64, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := runsOf(ids(tc.ids...)); !slices.Equal(got, tc.want) {
				t.Errorf("runsOf = %v, want %v", got, tc.want)
			}
		})
	}
}
