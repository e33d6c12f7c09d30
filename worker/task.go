package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/pebblestate"
	"github.com/dagflow/dagflow/shuffle"
)

// bufferTimeout bounds how long encoded records wait in a partly filled
// pipelined buffer: the job's dag.Config.BufferTimeout.
func (t *task) bufferTimeout() time.Duration { return t.plan.Config.EffectiveBufferTimeout() }

// opNode is one operator of a task's chain.
type opNode struct {
	vid     int
	name    string
	op      engine.Operator // nil for a source head
	pto     engine.ProcessingTimeOperator
	sink    engine.SinkOperator
	oc      *engine.OperatorContext
	metrics *engine.Metrics
	// store is the node's Pebble state store, if it opened one.
	store *pebblestate.Store
}

// task is one running task attempt.
type task struct {
	w      *Worker
	plan   *dag.Plan
	dep    TaskDeployment
	pt     dag.PlanTask
	name   string
	nodes  []*opNode // topological order, head first
	byVID  map[int]*opNode
	source engine.SourceInstance
	outs   []*netOutput
	ptos   []*opNode
	log    *slog.Logger
	// locations and external describe where the committed blocking
	// outputs live (see TaskStatus).
	locations map[int]string
	external  bool

	// Checkpoints: triggers from the master (sources and tasks whose
	// producers finished), completion notices, the last barrier processed,
	// the alignment in progress and splits finished since the last split
	// request.
	triggers    chan engine.Barrier
	notices     chan int64
	lastBarrier int64
	align       *aligner // gate tasks: barrier alignment over gateChans
	alignStart  time.Time
	alignNanos  int64
	finished    []dag.FinishedSplit
	drained     bool
	// rec is what the task reports to a new leader after a master
	// failover (read from other goroutines).
	rec       taskRecord
	gateChans []*inChan
	// async tracks the task's checkpoint uploads still running: state
	// stores are closed only after them. A panic in user code there
	// (a state coder) fails the task: asyncErr keeps it and cancel stops
	// the task's loops.
	async    sync.WaitGroup
	asyncMu  sync.Mutex
	asyncErr error
	cancel   context.CancelCauseFunc
}

func (t *task) key() attemptKey { return attemptKey{t.dep.Job, t.dep.ID, t.dep.Attempt} }

func newTask(w *Worker, plan *dag.Plan, dep TaskDeployment) (*task, error) {
	if dep.ID.Vertex < 0 || dep.ID.Vertex >= len(plan.Tasks) {
		return nil, fmt.Errorf("worker: deployment names task %d, plan has %d", dep.ID.Vertex, len(plan.Tasks))
	}
	pt := plan.Tasks[dep.ID.Vertex]
	t := &task{
		w: w, plan: plan, dep: dep, pt: pt,
		name:  fmt.Sprintf("%s[%d]#%d", pt.Name, dep.ID.Subtask, dep.Attempt),
		byVID: make(map[int]*opNode),
		// Triggers are few (one checkpoint at a time); a full channel
		// declines the trigger rather than blocking the master.
		triggers: make(chan engine.Barrier, 16),
		notices:  make(chan int64, 1),
	}
	if dep.Restore != nil {
		t.lastBarrier = dep.Restore.Checkpoint
		t.rec.barrier.Store(t.lastBarrier)
	}
	t.log = w.log.With("job", dep.Job, "task", t.name)
	return t, nil
}

// run executes the task and returns its outcome.
func (t *task) run(ctx context.Context) (committables map[int][][]byte, err error) {
	ctx, t.cancel = context.WithCancelCause(ctx)
	defer t.cancel(nil)
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Task: t.name, Value: r, Stack: string(debug.Stack())}
		}
		// A snapshot still being written may yet fail the task.
		t.async.Wait()
		if aerr := t.asyncFailure(); aerr != nil {
			err, committables = aerr, nil
		}
		if err != nil {
			t.abort(err)
		}
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := t.build(ctx); err != nil {
		return nil, err
	}
	finishedOnRestore := t.dep.Restore != nil && t.dep.Restore.Finished
	if finishedOnRestore {
		// The task had finished when the checkpoint was taken: its output
		// went downstream before the barrier. It ends at once.
		t.log.Debug("task finished before the restored checkpoint")
	} else if t.source != nil {
		err = t.runSource(ctx)
	} else {
		err = t.runGate(ctx)
	}
	if err != nil {
		return nil, err
	}
	// End of input: chained operators end in topological order.
	for _, n := range t.nodes[1:] {
		if finishedOnRestore {
			break
		}
		if err := n.op.EndInput(ctx, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", n.name, err)
		}
	}
	for _, o := range t.outs {
		if err := o.flush(ctx); err != nil {
			return nil, err
		}
		if err := o.w.Commit(ctx); err != nil {
			return nil, fmt.Errorf("commit partition %s: %w", o.spec.Partition, err)
		}
	}
	t.recordLocations()
	for _, n := range t.nodes {
		if n.sink == nil || finishedOnRestore {
			continue
		}
		c, err := n.sink.Prepare(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare sink %s: %w", n.name, err)
		}
		if committables == nil {
			committables = make(map[int][][]byte)
		}
		committables[n.vid] = c
	}
	return committables, nil
}

// failAsync fails the task from one of its checkpoint goroutines: the
// first cause is kept and the task's loops are stopped.
func (t *task) failAsync(err error) {
	t.asyncMu.Lock()
	if t.asyncErr == nil {
		t.asyncErr = err
	}
	t.asyncMu.Unlock()
	t.cancel(err)
}

func (t *task) asyncFailure() error {
	t.asyncMu.Lock()
	defer t.asyncMu.Unlock()
	return t.asyncErr
}

// recordLocations notes the outputs an external shuffle service holds; the
// result is external when every blocking output is.
func (t *task) recordLocations() {
	blocking, external := 0, 0
	for _, o := range t.outs {
		if o.spec.Mode != shuffle.Blocking {
			continue
		}
		blocking++
		if ew, ok := o.w.(ExternalWriter); ok {
			if loc := ew.ExternalLocation(); loc != "" {
				if t.locations == nil {
					t.locations = make(map[int]string)
				}
				t.locations[o.spec.Edge] = loc
				external++
			}
		}
	}
	t.external = blocking > 0 && external == blocking
}

func (t *task) abort(cause error) {
	for _, o := range t.outs {
		o.w.Abort(cause)
	}
	for _, n := range t.nodes {
		if n.sink != nil {
			if err := t.userCall(func() error { return n.sink.Abort(context.WithoutCancel(context.Background())) }); err != nil {
				t.log.Warn("abort sink", "vertex", n.name, "err", err)
			}
		}
	}
}

// userCall runs user code outside the recover of run (aborting and
// closing operators, writing snapshots on another goroutine): a panic
// becomes a *PanicError of the task.
func (t *task) userCall(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Task: t.name, Value: r, Stack: string(debug.Stack())}
		}
	}()
	return fn()
}

func (t *task) close() error {
	var errs []error
	for _, n := range t.nodes {
		if n.op != nil {
			errs = append(errs, t.userCall(n.op.Close))
		}
	}
	if t.source != nil {
		errs = append(errs, t.userCall(t.source.Close))
	}
	t.async.Wait()
	errs = append(errs, t.closeStores())
	return errors.Join(errs...)
}

// timers fires due processing-time timers and returns the next one.
func (t *task) timers(ctx context.Context) (int64, error) {
	next := dag.MaxTime
	if len(t.ptos) == 0 {
		return next, nil
	}
	now := t.w.nowMillis()
	for _, n := range t.ptos {
		if due := n.pto.NextProcessingTimer(); due <= now {
			if err := n.pto.OnProcessingTime(ctx, now); err != nil {
				return 0, fmt.Errorf("%s: %w", n.name, err)
			}
		}
		if due := n.pto.NextProcessingTimer(); due < next {
			next = due
		}
	}
	return next, nil
}

func (t *task) flushOutputs(ctx context.Context) error {
	for _, o := range t.outs {
		if o.spec.Mode == shuffle.Pipelined {
			if err := o.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *task) markIdle(ctx context.Context) error {
	for _, o := range t.outs {
		if err := o.markIdle(ctx); err != nil {
			return err
		}
	}
	return nil
}

// notify passes a completed checkpoint to the task's listeners.
func (t *task) notify(ctx context.Context, id int64) error {
	if t.source != nil {
		if err := t.source.NotifyCheckpoint(ctx, id); err != nil {
			return fmt.Errorf("%s: checkpoint %d complete: %w", t.nodes[0].name, id, err)
		}
	}
	for _, n := range t.nodes {
		if l, ok := n.op.(dag.CheckpointListener); ok {
			if err := l.CheckpointComplete(ctx, id); err != nil {
				return fmt.Errorf("%s: checkpoint %d complete: %w", n.name, id, err)
			}
		}
		if n.store != nil {
			// The next incremental snapshot may reference this one's files.
			if err := n.store.CheckpointComplete(ctx, id); err != nil {
				return fmt.Errorf("%s: checkpoint %d complete: %w", n.name, id, err)
			}
		}
	}
	return nil
}
