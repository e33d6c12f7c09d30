package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/pebblestate"
	"github.com/dagflow/dagflow/shuffle"
)

// Runtime tuning shared by tasks.
const (
	// bufferTimeout bounds how long encoded records wait in a partly
	// filled pipelined buffer.
	bufferTimeout = 100 * time.Millisecond
)

// PanicError is a task failure caused by a panic in user code.
type PanicError struct {
	Task  string
	Value any
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic in task %s: %v\n%s", e.Task, e.Value, e.Stack)
}

// opNode is one operator of a task's chain.
type opNode struct {
	vid     int
	name    string
	op      dag.Operator // nil for a source head
	pto     dag.ProcessingTimeOperator
	sink    dag.SinkOperator
	oc      *dag.OperatorContext
	metrics *dag.Metrics
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
	source dag.SourceInstance
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
	triggers    chan dag.Barrier
	notices     chan int64
	lastBarrier int64
	align       *alignment
	alignNanos  int64
	finished    []dag.FinishedSplit
	drained     bool
	gateChans   []*inChan
	// async tracks the task's checkpoint uploads still running: state
	// stores are closed only after them.
	async sync.WaitGroup
}

// alignment is a checkpoint barrier waiting to arrive on every input.
type alignment struct {
	b     dag.Barrier
	start time.Time
}

func (t *task) key() attemptKey { return attemptKey{t.dep.Job, t.dep.ID, t.dep.Attempt} }

func newTask(w *Worker, plan *dag.Plan, dep TaskDeployment) (*task, error) {
	if dep.ID.Task < 0 || dep.ID.Task >= len(plan.Tasks) {
		return nil, fmt.Errorf("worker: deployment names task %d, plan has %d", dep.ID.Task, len(plan.Tasks))
	}
	pt := plan.Tasks[dep.ID.Task]
	t := &task{
		w: w, plan: plan, dep: dep, pt: pt,
		name:  fmt.Sprintf("%s[%d]#%d", pt.Name, dep.ID.Subtask, dep.Attempt),
		byVID: make(map[int]*opNode),
		// Triggers are few (one checkpoint at a time); a full channel
		// declines the trigger rather than blocking the master.
		triggers: make(chan dag.Barrier, 16),
		notices:  make(chan int64, 1),
	}
	if dep.Restore != nil {
		t.lastBarrier = dep.Restore.Checkpoint
	}
	t.log = w.log.With("job", dep.Job, "task", t.name)
	return t, nil
}

// build instantiates operators and wires outputs.
func (t *task) build(ctx context.Context) error {
	now := t.w.nowMillis
	for i, vid := range t.pt.Vertices {
		pv := t.plan.Vertices[vid]
		n := &opNode{vid: vid, name: pv.Name, metrics: t.w.metricsFor(t.dep.Job, vid, t.dep.ID.Subtask)}
		n.oc = &dag.OperatorContext{
			Job: t.dep.Job, Vertex: vid, Name: pv.Name, Subtask: t.dep.ID.Subtask,
			Parallelism: pv.Parallelism, MaxParallelism: t.plan.Config.MaxParallelism,
			Attempt: t.dep.Attempt, BatchSize: t.plan.Config.BatchSize, Bounded: pv.Bounded,
			Now: now, Metrics: n.metrics,
		}
		if i == 0 && pv.Kind == "source" {
			src, err := t.plan.NewSourceInstance(vid)
			if err != nil {
				return err
			}
			t.source = src
		} else {
			op, err := t.plan.NewOperator(vid)
			if err != nil {
				return err
			}
			n.op = op
			if p, ok := op.(dag.ProcessingTimeOperator); ok {
				n.pto = p
				t.ptos = append(t.ptos, n)
			}
			if s, ok := op.(dag.SinkOperator); ok {
				n.sink = s
			}
			n.oc.KeyedStore = t.keyedStoreOpener(ctx, n)
		}
		t.nodes = append(t.nodes, n)
		t.byVID[vid] = n
	}
	// Network outputs.
	netByEdge := make(map[int]*netOutput)
	for _, op := range t.dep.Outputs {
		pe := t.plan.Edges[op.Edge]
		enc, err := t.plan.NewEncoder(op.Edge, dag.EncoderSpec{
			Channels: op.Subpartitions, Subtask: t.dep.ID.Subtask, BufferSize: t.w.cfg.BufferSize,
		})
		if err != nil {
			return err
		}
		if pe.Partitioner == dag.Forward {
			enc, err = t.plan.NewEncoder(op.Edge, dag.EncoderSpec{Channels: 1, BufferSize: t.w.cfg.BufferSize})
			if err != nil {
				return err
			}
		}
		w, err := t.w.shuffle.CreateWriter(ctx, op.Partition, shuffle.WriterOptions{Mode: op.Mode, Subpartitions: op.Subpartitions})
		if err != nil {
			return fmt.Errorf("create partition %s: %w", op.Partition, err)
		}
		no := &netOutput{spec: op, enc: enc, w: w, lastWM: dag.MinTime, bp: &t.byVID[pe.From].metrics.BackPressureNanos, bytes: &t.byVID[pe.From].metrics.BytesOut}
		t.outs = append(t.outs, no)
		netByEdge[op.Edge] = no
	}
	// Ports: fan out to chained consumers and network edges.
	for _, n := range t.nodes {
		pv := t.plan.Vertices[n.vid]
		ports := len(pv.Ports)
		n.oc.Outputs = make([]dag.Output, ports)
		fans := make([]*fanout, ports)
		for p := range fans {
			fans[p] = &fanout{out: &n.metrics.RecordsOut}
			n.oc.Outputs[p] = fans[p]
		}
		for _, eid := range pv.Outputs {
			pe := t.plan.Edges[eid]
			f := fans[pe.FromPort]
			if pe.Chained {
				f.chained = append(f.chained, chainTarget{node: t.byVID[pe.To], input: pe.Input})
			} else if no, ok := netByEdge[eid]; ok {
				f.net = append(f.net, no)
			} else {
				return fmt.Errorf("worker: deployment of %s has no partition for edge %d", t.name, eid)
			}
		}
	}
	// Open tail first so consumers are ready before producers emit.
	for i := len(t.nodes) - 1; i >= 0; i-- {
		n := t.nodes[i]
		var err error
		if n.op != nil {
			err = n.op.Open(ctx, n.oc)
		} else {
			err = t.source.Open(ctx, n.oc)
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", n.name, err)
		}
	}
	if r := t.dep.Restore; r != nil && !r.Finished {
		if err := t.restore(ctx, r); err != nil {
			var re *RestoreError
			if errors.As(err, &re) {
				return err
			}
			return fmt.Errorf("restore %s from checkpoint %d: %w", t.name, r.Checkpoint, err)
		}
	}
	return nil
}

// run executes the task and returns its outcome.
func (t *task) run(ctx context.Context) (committables map[int][][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Task: t.name, Value: r, Stack: string(debug.Stack())}
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
			if err := n.sink.Abort(context.WithoutCancel(context.Background())); err != nil {
				t.log.Warn("abort sink", "vertex", n.name, "err", err)
			}
		}
	}
}

func (t *task) close() error {
	var errs []error
	for _, n := range t.nodes {
		if n.op != nil {
			errs = append(errs, n.op.Close())
		}
	}
	if t.source != nil {
		errs = append(errs, t.source.Close())
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

// splitWait is how long a source subtask waits before asking again for
// splits that are not there yet (dynamic sources).
const splitWait = 200 * time.Millisecond

// runSource reads splits until the source is exhausted. Unbounded sources
// take every split assigned to them; bounded ones one at a time.
func (t *task) runSource(ctx context.Context) error {
	head := t.nodes[0]
	out := head.oc.Outputs[0]
	bounded := t.plan.Vertices[head.vid].Bounded
	exhausted := false
	var askAfter time.Time
	lastWM, lastTick := dag.MinTime, time.Now()
	idle := false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.pollControl(ctx); err != nil {
			return err
		}
		if t.drained {
			break
		}
		now := time.Now()
		if !exhausted && (t.source.OpenSplits() == 0 || !bounded) && !now.Before(askAfter) {
			resp, err := t.w.splits.NextSplit(ctx, t.dep.Job, SplitRequest{Vertex: head.vid, Subtask: t.dep.ID.Subtask,
				Attempt: t.dep.Attempt, Checkpoint: t.lastBarrier, Finished: t.finished})
			if err != nil {
				return fmt.Errorf("next split: %w", err)
			}
			t.finished = nil
			switch {
			case resp.OK:
				if err := t.source.AddSplit(ctx, resp.Split); err != nil {
					return err
				}
				continue
			case resp.Wait:
				askAfter = now.Add(splitWait)
			default:
				exhausted = true
			}
		}
		if t.source.OpenSplits() == 0 {
			if exhausted {
				break
			}
			// Waiting for splits: keep time moving downstream.
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			if _, err := t.timers(ctx); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		n, finished, err := t.source.Poll(ctx)
		if err != nil {
			return fmt.Errorf("source %s: %w", head.name, err)
		}
		t.finished = append(t.finished, finished...)
		head.metrics.RecordsIn.Add(int64(n))
		// The watermark follows every batch, so event time advances the
		// same way on every run over the same input.
		now = time.Now()
		wm, isIdle := t.source.Watermark(now.UnixMilli())
		if wm > lastWM {
			lastWM = wm
			if err := out.EmitWatermark(ctx, wm); err != nil {
				return err
			}
		} else if isIdle && !idle {
			if err := t.markIdle(ctx); err != nil {
				return err
			}
		}
		idle = isIdle
		if len(finished) > 0 || n == 0 || now.Sub(lastTick) >= bufferTimeout {
			lastTick = now
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			if _, err := t.timers(ctx); err != nil {
				return err
			}
		}
	}
	if len(t.finished) > 0 {
		// Report the last finished splits (dynamic sources need them).
		if _, err := t.w.splits.NextSplit(ctx, t.dep.Job, SplitRequest{Vertex: head.vid, Subtask: t.dep.ID.Subtask,
			Attempt: t.dep.Attempt, Checkpoint: t.lastBarrier, Finished: t.finished}); err != nil {
			return fmt.Errorf("report finished splits: %w", err)
		}
		t.finished = nil
	}
	if t.drained {
		return nil // the final watermark preceded the drain savepoint
	}
	// The end of a bounded input: the final watermark fires everything.
	return out.EmitWatermark(ctx, dag.MaxTime)
}

// pollControl handles pending checkpoint triggers and notices without
// blocking.
func (t *task) pollControl(ctx context.Context) error {
	for {
		select {
		case b := <-t.triggers:
			if err := t.onSourceTrigger(ctx, b); err != nil {
				return err
			}
		case id := <-t.notices:
			if err := t.notify(ctx, id); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// onSourceTrigger injects a barrier at a source task.
func (t *task) onSourceTrigger(ctx context.Context, b dag.Barrier) error {
	if b.ID <= t.lastBarrier {
		return nil
	}
	if b.Kind == dag.KindDrainSavepoint {
		// Drain: every event-time window fires before the savepoint, and
		// the source ends after it.
		if err := t.nodes[0].oc.Outputs[0].EmitWatermark(ctx, dag.MaxTime); err != nil {
			return err
		}
		t.drained = true
	}
	return t.takeCheckpoint(ctx, b)
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

// gateMsg is one buffer (or the end) of an input channel.
type gateMsg struct {
	ch  *inChan
	buf []byte
	err error
}

type inChan struct {
	gate    int // index in deployment Inputs
	input   int
	spec    InputChannel
	r       shuffle.Reader
	wm      int64
	idle    bool
	ended   bool
	release chan struct{}
	// blocking channels read a finished producer's result: no barriers
	// come on them; consumed buffers are checkpointed instead (skip is
	// what a restored attempt skips).
	blocking bool
	key      string
	consumed int64
	skip     int64
	// held: the channel delivered the barrier being aligned and waits.
	held bool
}

// runGate reads all network inputs until they end.
func (t *task) runGate(ctx context.Context) error {
	head := t.nodes[0]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decoders := make([]dag.EdgeDecoder, len(t.dep.Inputs))
	// Channels still open per consumer input index: several gates (a
	// union) may feed one input, which ends when all of them ended.
	remaining := make(map[int]int)
	for _, g := range t.dep.Inputs {
		remaining[g.Input] += 0
	}
	var chans []*inChan
	for gi, g := range t.dep.Inputs {
		dec, err := t.plan.NewDecoder(g.Edge)
		if err != nil {
			return err
		}
		decoders[gi] = dec
		for _, c := range g.Channels {
			svc, err := t.w.resolver.Resolve(c.Location)
			if err != nil {
				for _, ch := range chans {
					ch.r.Close()
				}
				return &InputError{Partition: c.Partition, Location: c.Location, Err: err}
			}
			r, err := svc.OpenReader(ctx, c.Partition, c.From, c.To)
			if err != nil {
				for _, ch := range chans {
					ch.r.Close()
				}
				return &InputError{Partition: c.Partition, Location: c.Location, Err: err}
			}
			ic := &inChan{gate: gi, input: g.Input, spec: c, r: r, wm: dag.MinTime, release: make(chan struct{}),
				blocking: g.Blocking, key: fmt.Sprintf("%d/%d", g.Edge, c.Partition.Producer)}
			if rs := t.dep.Restore; rs != nil && g.Blocking {
				ic.skip = rs.InputOffsets[ic.key]
				ic.consumed = ic.skip
			}
			chans = append(chans, ic)
			remaining[g.Input]++
		}
	}
	t.gateChans = chans
	msgs := make(chan gateMsg, len(chans))
	done := make(chan struct{})
	var readers sync.WaitGroup
	defer func() {
		cancel()
		close(done)
		readers.Wait() // Next returns once ctx is cancelled
		for _, ch := range chans {
			ch.r.Close()
		}
	}()
	for _, ch := range chans {
		readers.Add(1)
		go func(ch *inChan) {
			defer readers.Done()
			for {
				buf, err := ch.r.Next(ctx)
				if err == nil && ch.skip > 0 {
					ch.skip-- // consumed before the restored checkpoint
					continue
				}
				select {
				case msgs <- gateMsg{ch: ch, buf: buf, err: err}:
				case <-done:
					return
				}
				if err != nil {
					return
				}
				select {
				case <-ch.release:
				case <-done:
					return
				}
			}
		}(ch)
	}
	// Inputs with no channels end at once.
	for _, input := range sortedInputs(remaining) {
		if remaining[input] == 0 {
			if err := head.op.EndInput(ctx, input); err != nil {
				return err
			}
		}
	}
	open := len(chans)
	curWM := dag.MinTime
	flushTick := time.NewTicker(bufferTimeout)
	defer flushTick.Stop()
	var timer *time.Timer
	for open > 0 {
		var timerC <-chan time.Time
		if next, err := t.timers(ctx); err != nil {
			return err
		} else if next != dag.MaxTime {
			d := time.Duration(next-t.w.nowMillis()) * time.Millisecond
			if timer == nil {
				timer = time.NewTimer(d)
				defer timer.Stop()
			} else {
				timer.Reset(d)
			}
			timerC = timer.C
		}
		var m gateMsg
		select {
		case m = <-msgs:
		case <-flushTick.C:
			if err := t.flushOutputs(ctx); err != nil {
				return err
			}
			continue
		case <-timerC:
			continue
		case b := <-t.triggers:
			if err := t.onGateTrigger(ctx, b, chans); err != nil {
				return err
			}
			continue
		case id := <-t.notices:
			if err := t.notify(ctx, id); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		ch := m.ch
		if m.err != nil {
			if !errors.Is(m.err, io.EOF) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &InputError{Partition: ch.spec.Partition, Location: ch.spec.Location, Err: m.err}
			}
			ch.ended, ch.wm = true, dag.MaxTime
			open--
			if err := t.advanceWatermark(ctx, chans, &curWM); err != nil {
				return err
			}
			if err := t.maybeAligned(ctx, chans); err != nil {
				return err
			}
			if remaining[ch.input]--; remaining[ch.input] == 0 {
				if err := head.op.EndInput(ctx, ch.input); err != nil {
					return fmt.Errorf("%s: %w", head.name, err)
				}
			}
			continue
		}
		if len(m.buf) > 0 && m.buf[0] == dag.FrameBarrier {
			if err := t.onBarrier(ctx, ch, m.buf, chans); err != nil {
				return err
			}
			continue // onBarrier releases the channel
		}
		if err := t.handleBuffer(ctx, head, ch, decoders[ch.gate], m.buf, chans, &curWM); err != nil {
			return err
		}
		if ch.blocking {
			ch.consumed++
		}
		ch.release <- struct{}{}
	}
	return nil
}

// onBarrier handles a barrier arriving on a channel: the channel is held
// until the barrier arrived on every live pipelined channel (alignment),
// then the task takes its checkpoint and releases them all.
func (t *task) onBarrier(ctx context.Context, ch *inChan, buf []byte, chans []*inChan) error {
	b, err := dag.DecodeBarrier(buf)
	if err != nil {
		return fmt.Errorf("input %d of %s: %w", ch.input, t.name, err)
	}
	stale := b.ID <= t.lastBarrier || ch.blocking || (t.align != nil && b.ID < t.align.b.ID)
	if stale {
		ch.release <- struct{}{}
		return nil
	}
	if t.align != nil && b.ID > t.align.b.ID {
		// A newer checkpoint overtook one that was aborted upstream.
		t.log.Debug("checkpoint alignment superseded", "old", t.align.b.ID, "new", b.ID)
		t.releaseHeld(chans)
		t.align = nil
	}
	if t.align == nil {
		t.align = &alignment{b: b, start: time.Now()}
	}
	ch.held = true
	return t.maybeAligned(ctx, chans)
}

// onGateTrigger starts a checkpoint at a task whose producers finished:
// it completes when the remaining channels ended.
func (t *task) onGateTrigger(ctx context.Context, b dag.Barrier, chans []*inChan) error {
	if b.ID <= t.lastBarrier || (t.align != nil && b.ID <= t.align.b.ID) {
		return nil
	}
	if t.align != nil {
		t.releaseHeld(chans)
	}
	t.align = &alignment{b: b, start: time.Now()}
	return t.maybeAligned(ctx, chans)
}

// maybeAligned takes the pending checkpoint once every live pipelined
// channel delivered its barrier.
func (t *task) maybeAligned(ctx context.Context, chans []*inChan) error {
	if t.align == nil {
		return nil
	}
	for _, c := range chans {
		if !c.blocking && !c.ended && !c.held {
			return nil
		}
	}
	a := t.align
	t.align = nil
	t.alignNanos = time.Since(a.start).Nanoseconds()
	err := t.takeCheckpoint(ctx, a.b)
	t.releaseHeld(chans)
	return err
}

func (t *task) releaseHeld(chans []*inChan) {
	for _, c := range chans {
		if c.held {
			c.held = false
			c.release <- struct{}{}
		}
	}
}

func (t *task) handleBuffer(ctx context.Context, head *opNode, ch *inChan, dec dag.EdgeDecoder, buf []byte, chans []*inChan, curWM *int64) error {
	if len(buf) == 0 {
		return fmt.Errorf("worker: empty buffer on input %d", ch.input)
	}
	switch buf[0] {
	case dag.FrameData:
		b, err := dec.Decode(buf)
		if err != nil {
			return fmt.Errorf("decode input %d of %s: %w", ch.input, head.name, err)
		}
		ch.idle = false
		n := b.(lener).Len()
		head.metrics.RecordsIn.Add(int64(n))
		return head.op.ProcessBatch(ctx, ch.input, b)
	case dag.FrameWatermark:
		wm, err := dag.DecodeWatermark(buf)
		if err != nil {
			return err
		}
		ch.idle = false
		if wm > ch.wm {
			ch.wm = wm
		}
		return t.advanceWatermark(ctx, chans, curWM)
	case dag.FrameIdle:
		ch.idle = true
		return t.advanceWatermark(ctx, chans, curWM)
	case dag.FrameBarrier:
		return nil // barriers in a blocking result are not aligned
	}
	return fmt.Errorf("worker: unknown frame kind %q on input %d of %s", buf[0], ch.input, head.name)
}

// advanceWatermark recomputes the minimum watermark over active channels
// and forwards it when it advanced.
func (t *task) advanceWatermark(ctx context.Context, chans []*inChan, cur *int64) error {
	min, active := dag.MaxTime, 0
	for _, c := range chans {
		if c.idle && !c.ended {
			continue
		}
		active++
		if c.wm < min {
			min = c.wm
		}
	}
	if active == 0 {
		return t.markIdle(ctx)
	}
	if min > *cur {
		*cur = min
		return t.nodes[0].op.ProcessWatermark(ctx, min)
	}
	return nil
}

func sortedInputs(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}
