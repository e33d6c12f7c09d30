package restore

import (
	"fmt"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/protocol"
)

// Check verifies that a job can start from md: same format version, and
// every vertex with state in md exists in the plan under the same name
// (unless allowNonRestored, which drops such state).
func Check(md *checkpoint.Metadata, p *dag.Plan, allowNonRestored bool) error {
	if md.Version != checkpoint.FormatVersion {
		return dag.Fatal(fmt.Errorf("restore: checkpoint %d has format version %d, this engine reads %d", md.ID, md.Version, checkpoint.FormatVersion))
	}
	for _, ts := range md.Tasks {
		for _, os := range ts.Operators {
			if len(os.KeyGroups)+len(os.Operator)+len(os.Splits)+len(os.Shared) == 0 {
				continue
			}
			name := md.VertexNames[os.Vertex]
			ok := os.Vertex < len(p.Vertices) && p.Vertices[os.Vertex].Name == name
			if !ok && !allowNonRestored {
				return dag.Fatal(fmt.Errorf("restore: checkpoint %d holds state of vertex %d (%q) that job %s does not have; restore with --allow-non-restored-state to drop it",
					md.ID, os.Vertex, name, p.Job))
			}
		}
	}
	return nil
}

// For computes the state subtask of plan task task starts from when
// restored from md, redistributing keyed state by key group, operator
// state by union and source splits round-robin when the parallelism
// changed. It returns nil when md holds nothing for the task.
func For(md *checkpoint.Metadata, p *dag.Plan, task, subtask int) *protocol.TaskRestore {
	pt := p.Tasks[task]
	r := &protocol.TaskRestore{Checkpoint: md.ID, Vertices: make(map[int]*protocol.VertexRestore)}
	maxPar := md.MaxParallelism
	if maxPar <= 0 {
		maxPar = p.Config.MaxParallelism
	}
	seen, finished := 0, 0
	for _, vid := range pt.Vertices {
		if name, ok := md.VertexNames[vid]; ok && name != p.Vertices[vid].Name {
			continue // another operator now (allowed by Check)
		}
		newPar := p.Vertices[vid].Parallelism
		oldPar := md.Parallelism[vid]
		vr := &protocol.VertexRestore{}
		var splits []checkpoint.SplitState
		for _, ts := range md.Tasks {
			for _, os := range ts.Operators {
				if os.Vertex != vid {
					continue
				}
				for _, kh := range os.KeyGroups {
					if engine.SubtaskForKeyGroup(kh.KeyGroup, maxPar, newPar) == subtask {
						vr.KeyGroups = append(vr.KeyGroups, kh)
					}
				}
				vr.Operator = append(vr.Operator, os.Operator...)
				if oldPar == newPar {
					if ts.Subtask == subtask {
						splits = append(splits, os.Splits...)
					}
				} else {
					splits = append(splits, os.Splits...)
				}
				if len(os.Shared)+len(os.Private) > 0 {
					lo, hi := kgRange(maxPar, newPar, subtask)
					for _, f := range os.Shared {
						if f.KeyGroupFrom < hi && f.KeyGroupTo > lo {
							vr.Backends = append(vr.Backends, os)
							break
						}
					}
				}
			}
		}
		if oldPar != newPar && len(splits) > 0 {
			var mine []checkpoint.SplitState
			for i, sp := range splits {
				if i%newPar == subtask {
					mine = append(mine, sp)
				}
			}
			splits = mine
		}
		vr.Splits = splits
		if len(vr.KeyGroups)+len(vr.Operator)+len(vr.Splits)+len(vr.Backends) > 0 {
			r.Vertices[vid] = vr
		}
	}
	for _, ts := range md.Tasks {
		if ts.Task != task {
			continue
		}
		if md.Parallelism[pt.Vertices[0]] == pt.Parallelism && ts.Subtask != subtask {
			continue
		}
		seen++
		if ts.Finished {
			finished++
		}
		if ts.Subtask == subtask {
			r.InputOffsets = ts.InputOffsets
		}
	}
	if seen == 0 {
		return nil // the task had not started: it starts fresh
	}
	r.Finished = finished == seen
	return r
}

// kgRange returns the key groups [lo, hi) of a subtask.
func kgRange(maxPar, par, subtask int) (int, int) {
	lo, hi := -1, 0
	for kg := 0; kg < maxPar; kg++ {
		if engine.SubtaskForKeyGroup(kg, maxPar, par) == subtask {
			if lo < 0 {
				lo = kg
			}
			hi = kg + 1
		}
	}
	if lo < 0 {
		lo = 0
	}
	return lo, hi
}
