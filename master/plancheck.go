package master

import (
	"fmt"

	"github.com/dagflow/dagflow/dag"
)

// maxPlanParallelism bounds the parallelism a submitted plan may ask for.
const maxPlanParallelism = 1 << 15

// checkPlan checks the structure of a plan decoded from a client's JSON
// (ids and references are in range, parallelism is positive), so that nothing later indexes out of range on a malformed
// or hostile submission.
func checkPlan(p *dag.Plan) error {
	if len(p.Tasks) == 0 || len(p.Vertices) == 0 {
		return fmt.Errorf("plan of job %q has no tasks or no vertices", p.Job)
	}
	par := func(what string, i, n int) error {
		if n < 1 || n > maxPlanParallelism {
			return fmt.Errorf("plan: %s %d: parallelism %d: want 1 to %d", what, i, n, maxPlanParallelism)
		}
		return nil
	}
	for i, t := range p.Tasks {
		if t.ID < 0 || t.ID >= len(p.Tasks) {
			return fmt.Errorf("plan: task %d: id %d out of range", i, t.ID)
		}
		if err := par("task", i, t.Parallelism); err != nil {
			return err
		}
	}
	for i, v := range p.Vertices {
		if v.ID < 0 || v.ID >= len(p.Vertices) {
			return fmt.Errorf("plan: vertex %d: id %d out of range", i, v.ID)
		}
		if v.Task < 0 || v.Task >= len(p.Tasks) {
			return fmt.Errorf("plan: vertex %d: task %d out of range (%d tasks)", i, v.Task, len(p.Tasks))
		}
		if err := par("vertex", i, v.Parallelism); err != nil {
			return err
		}
		for _, e := range append(append([]int(nil), v.Inputs...), v.Outputs...) {
			if e < 0 || e >= len(p.Edges) {
				return fmt.Errorf("plan: vertex %d: edge %d out of range (%d edges)", i, e, len(p.Edges))
			}
		}
	}
	for i, e := range p.Edges {
		if e.ID < 0 || e.ID >= len(p.Edges) {
			return fmt.Errorf("plan: edge %d: id %d out of range", i, e.ID)
		}
		if e.From < 0 || e.From >= len(p.Vertices) || e.To < 0 || e.To >= len(p.Vertices) {
			return fmt.Errorf("plan: edge %d: vertex %d -> %d out of range (%d vertices)", i, e.From, e.To, len(p.Vertices))
		}
		if e.FromPort < 0 || e.Input < 0 {
			return fmt.Errorf("plan: edge %d: negative port %d or input %d", i, e.FromPort, e.Input)
		}
	}
	return nil
}
