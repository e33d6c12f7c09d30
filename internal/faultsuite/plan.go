package faultsuite

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// SeedEnv names the environment variable that fixes the suite's seed, to
// reproduce a run.
const SeedEnv = "DAGFLOW_FAULT_SEED"

// Fault is a kind of injected failure.
type Fault int

const (
	// FailTask makes the probed task attempt fail (its code panics).
	FailTask Fault = iota
	// KillExecutor SIGKILLs the process running the probed task (in the
	// embedded runtime: loses the worker running it).
	KillExecutor
	// KillWorker SIGKILLs the worker daemon running the probed task and
	// its executors, as when a machine dies (embedded: loses the worker).
	KillWorker
	// KillShuffleDaemon SIGKILLs the shuffle daemon holding the blocking
	// results the probed task reads, and starts a new one (embedded:
	// loses a worker holding those results).
	KillShuffleDaemon
)

// Faults lists every fault kind.
func Faults() []Fault { return []Fault{FailTask, KillExecutor, KillWorker, KillShuffleDaemon} }

// String implements fmt.Stringer.
func (f Fault) String() string {
	switch f {
	case FailTask:
		return "fail-task"
	case KillExecutor:
		return "kill-executor"
	case KillWorker:
		return "kill-worker"
	case KillShuffleDaemon:
		return "kill-shuffle-daemon"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Plan is the fault one case gets in a run.
type Plan struct {
	Case  Case
	Fault Fault
	// At is how many records the probed task reads before the fault.
	At int64
}

// String describes the plan.
func (p Plan) String() string {
	return fmt.Sprintf("%s: %s after %d records read by %s", p.Case.Name, p.Fault, p.At, p.Case.Probe)
}

// Seed returns the seed of a run: $DAGFLOW_FAULT_SEED when set, otherwise
// a random one (print it so that the run can be reproduced).
func Seed() (uint64, error) {
	if s := strings.TrimSpace(os.Getenv(SeedEnv)); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("faultsuite: %s=%q is not an unsigned integer: %w", SeedEnv, s, err)
		}
		return v, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("faultsuite: random seed: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]) % 1_000_000_000, nil
}

// NewPlans assigns every case a fault among those it allows, and the
// record of its probed task's input at which the fault strikes, all chosen
// by seed. The same seed gives the same plans. When the cases allow it,
// every fault kind is used at least once (each run exercises all of them).
func NewPlans(seed uint64, cases []Case) ([]Plan, error) {
	for _, c := range cases {
		if len(c.Faults) == 0 || c.MinAt <= 0 || c.MaxAt < c.MinAt {
			return nil, fmt.Errorf("faultsuite: case %q: needs faults and 0 < MinAt <= MaxAt (got %d faults, %d..%d)",
				c.Name, len(c.Faults), c.MinAt, c.MaxAt)
		}
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x6661756c74))
	coverable := map[Fault]bool{}
	for _, c := range cases {
		for _, f := range c.Faults {
			coverable[f] = true
		}
	}
	var best []Fault
	for try := 0; try < 64; try++ {
		faults := assign(rng, cases)
		covered := map[Fault]bool{}
		for _, f := range faults {
			covered[f] = true
		}
		if best == nil || len(covered) == len(coverable) {
			best = faults
		}
		if len(covered) == len(coverable) {
			break
		}
	}
	plans := make([]Plan, len(cases))
	for i, c := range cases {
		h := fnv.New64a()
		h.Write([]byte(c.Name))
		crng := mrand.New(mrand.NewPCG(seed, h.Sum64()))
		plans[i] = Plan{Case: c, Fault: best[i], At: c.MinAt + crng.Int64N(c.MaxAt-c.MinAt+1)}
	}
	return plans, nil
}

// assign picks a fault for every case, visiting cases in a random order
// and preferring faults no case took yet.
func assign(rng *mrand.Rand, cases []Case) []Fault {
	out := make([]Fault, len(cases))
	used := map[Fault]bool{}
	for _, i := range rng.Perm(len(cases)) {
		var fresh []Fault
		for _, f := range cases[i].Faults {
			if !used[f] {
				fresh = append(fresh, f)
			}
		}
		if len(fresh) == 0 {
			fresh = cases[i].Faults
		}
		out[i] = fresh[rng.IntN(len(fresh))]
		used[out[i]] = true
	}
	return out
}
