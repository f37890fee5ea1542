package main

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Model is the capacity model of a full walk: a share of Entries files and
// directories, each costing OpsPerEntry filesystem operations, walked by
// Pods pods with Workers operations in flight each, every operation taking
// Latency, on a file system that serves at most IOPS operations a second.
//
// The walk is bound by round trips: a pod with W operations in flight
// makes W/Latency of them a second, N pods N times as many, until the file
// system's IOPS are spent, or the pods' CPU: each operation costs the
// client CPUPerOp of one of a pod's Cores (0: CPU is never short). A share
// of many sessions keeps every worker busy; a small tree may not (see Sim,
// which validates the model on slowfs). Critical is the longest chain of
// operations one after the other that no worker can share (the listing of
// the largest directory where the file system answers entry by entry); it
// bounds the wall time from below however many pods there are. When such
// chains hold operations back, the workers are not all busy all the time:
// as for any greedy schedule (Graham's bound), the wall time is then at
// most the time of the operations spread over the workers plus the chain.
type Model struct {
	Entries     float64
	OpsPerEntry float64
	Latency     time.Duration
	Pods        int
	Workers     int
	IOPS        float64 // <= 0: no ceiling
	Critical    float64 // operations in sequence, each taking Latency
	CPUPerOp    time.Duration
	Cores       float64 // of each pod; needed when CPUPerOp > 0
}

// Prediction is what Predict makes of a Model.
type Prediction struct {
	Ops        float64       // filesystem operations of the whole walk
	Throughput float64       // operations a second
	Wall       time.Duration // predicted wall time: every worker busy
	// WallMax is the wall time when the critical chain overlaps nothing
	// (Wall plus the chain); it equals Wall when Critical is 0.
	WallMax time.Duration
	// Bound names what sets Wall: "latency" (operations in flight over the
	// latency), "iops" (the file system's ceiling), "cpu" (the pods'
	// cores) or "critical" (the longest sequential chain).
	Bound string
}

// errModel marks a model that cannot be predicted.
var errModel = errors.New("capacity: bad model")

// Predict returns the wall time of m's walk:
//
//	throughput = min(Pods × Workers / Latency, IOPS, Pods × Cores / CPUPerOp)
//	wall       = max(Ops / throughput, Critical × Latency)
//	wall max   = Ops / throughput + Critical × Latency
func (m Model) Predict() (Prediction, error) {
	switch {
	case m.Entries <= 0 || m.OpsPerEntry <= 0:
		return Prediction{}, fmt.Errorf("%w: entries and operations per entry must be positive", errModel)
	case m.Latency <= 0:
		return Prediction{}, fmt.Errorf("%w: latency must be positive", errModel)
	case m.Pods <= 0 || m.Workers <= 0:
		return Prediction{}, fmt.Errorf("%w: pods and workers must be positive", errModel)
	case m.Critical < 0:
		return Prediction{}, fmt.Errorf("%w: critical chain must not be negative", errModel)
	case m.CPUPerOp < 0 || m.CPUPerOp > 0 && m.Cores <= 0:
		return Prediction{}, fmt.Errorf("%w: CPU per operation must not be negative, and needs cores", errModel)
	}
	p := Prediction{Ops: m.Entries * m.OpsPerEntry, Bound: "latency"}
	p.Throughput = float64(m.Pods*m.Workers) / m.Latency.Seconds()
	if m.IOPS > 0 && m.IOPS < p.Throughput {
		p.Throughput, p.Bound = m.IOPS, "iops"
	}
	if m.CPUPerOp > 0 {
		if cpu := float64(m.Pods) * m.Cores / m.CPUPerOp.Seconds(); cpu < p.Throughput {
			p.Throughput, p.Bound = cpu, "cpu"
		}
	}
	spread := p.Ops / p.Throughput
	chain := m.Critical * m.Latency.Seconds()
	p.Wall, p.WallMax = seconds(max(spread, chain)), seconds(spread+chain)
	if chain > spread {
		p.Bound = "critical"
	}
	return p, nil
}

// seconds converts s seconds to a Duration, saturating instead of
// overflowing.
func seconds(s float64) time.Duration {
	if d := s * float64(time.Second); d < math.MaxInt64 {
		return time.Duration(d)
	}
	return time.Duration(math.MaxInt64)
}
