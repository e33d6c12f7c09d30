package coordinator

import (
	"fmt"
	"sort"
	"time"

	"github.com/dagflow/dagflow/scheduler"
)

// addCommit records committables that become committable after
// checkpoint key.
func (c *Coordinator) addCommit(key int64, vertex, subtask int, committables [][]byte) {
	if len(committables) == 0 {
		return
	}
	byV := c.commits[key]
	if byV == nil {
		byV = make(map[int]map[int][][]byte)
		c.commits[key] = byV
	}
	if byV[vertex] == nil {
		byV[vertex] = make(map[int][][]byte)
	}
	byV[vertex][subtask] = append(byV[vertex][subtask], committables...)
}

// takeCommits removes and returns the committables of keys ≤ upTo, by
// vertex, in key and subtask order.
func (c *Coordinator) takeCommits(upTo int64) map[int][][]byte {
	out := make(map[int][][]byte)
	for _, k := range sortedIDs(c.commits) {
		if k > upTo {
			continue
		}
		for _, v := range sortedInts(c.commits[k]) {
			for _, s := range sortedInts(c.commits[k][v]) {
				out[v] = append(out[v], c.commits[k][v][s]...)
			}
		}
		delete(c.commits, k)
	}
	return out
}

// dropCommits removes the committables a restarted sink subtask made
// after checkpoint k and returns them (to discard).
func (c *Coordinator) dropCommits(vertex, subtask int, k int64) [][]byte {
	var out [][]byte
	for _, key := range sortedIDs(c.commits) {
		if key <= k {
			continue
		}
		byV := c.commits[key]
		if cs, ok := byV[vertex][subtask]; ok {
			out = append(out, cs...)
			delete(byV[vertex], subtask)
			if len(byV[vertex]) == 0 {
				delete(byV, vertex)
			}
			if len(byV) == 0 {
				delete(c.commits, key)
			}
		}
	}
	return out
}

// enqueue appends a commit batch.
func (c *Coordinator) enqueue(b *batch) {
	c.nextSeq++
	b.seq = c.nextSeq
	b.failVertex = -1
	c.queue = append(c.queue, b)
}

// pump emits the Commit of the first queued batch unless it is already
// running or waiting for a retry.
func (c *Coordinator) pump(out []Action) []Action {
	if len(c.queue) == 0 {
		return out
	}
	b := c.queue[0]
	if b.emitted || !b.retryAt.IsZero() {
		return out
	}
	b.emitted = true
	return append(out, Commit{Seq: b.seq, Checkpoint: b.checkpoint, Final: b.final, Committables: b.byVertex})
}

// commitDone finishes the running batch and starts the next.
func (c *Coordinator) commitDone(e CommitDone) []Action {
	if len(c.queue) == 0 || c.queue[0].seq != e.Seq || !c.queue[0].emitted {
		return nil
	}
	b := c.queue[0]
	c.queue = c.queue[1:]
	if b.final {
		c.ended = true
		return []Action{Finished{}}
	}
	return c.pump(nil)
}

// commitFailed schedules a retry of the running batch from the vertex that
// failed, or gives it up after CommitAttempts failures of that vertex.
func (c *Coordinator) commitFailed(e CommitFailed) []Action {
	if len(c.queue) == 0 || c.queue[0].seq != e.Seq || !c.queue[0].emitted {
		return nil
	}
	b := c.queue[0]
	b.emitted = false
	rest := make(map[int][][]byte)
	for v, cs := range b.byVertex {
		if v >= e.Vertex {
			rest[v] = cs
		}
	}
	b.byVertex = rest
	if e.Vertex == b.failVertex {
		b.tries++
	} else {
		b.failVertex, b.tries = e.Vertex, 1
	}
	if b.tries < CommitAttempts {
		b.retryAt = e.Now.Add(time.Duration(b.tries) * CommitBackoff)
		return []Action{ScheduleRetry{At: b.retryAt}}
	}
	c.queue = c.queue[1:]
	reason := fmt.Sprintf("vertex %d: %s", e.Vertex, e.Err)
	out := []Action{CommitAbandoned{Seq: b.seq, Checkpoint: b.checkpoint, Final: b.final, Committables: b.byVertex, Reason: reason}}
	switch {
	case b.final:
		c.ended = true
		return append(out, FailJob{Reason: "commit output: " + reason})
	case b.restored:
		c.ended = true
		return append(out, FailJob{Reason: fmt.Sprintf("commit output of restored checkpoint %d: %s", b.checkpoint, reason)})
	}
	// The committables are in the checkpoint: a restore commits them again.
	return c.pump(out)
}

// retryDue runs a commit retry whose time came.
func (c *Coordinator) retryDue(now time.Time) []Action {
	if len(c.queue) == 0 {
		return nil
	}
	b := c.queue[0]
	if b.retryAt.IsZero() || now.Before(b.retryAt) {
		return nil
	}
	b.retryAt = time.Time{}
	return c.pump(nil)
}

func merge(dst, src map[int][][]byte) {
	for _, v := range sortedInts(src) {
		dst[v] = append(dst[v], src[v]...)
	}
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func sortedIDs[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func lessTask(a, b scheduler.TaskID) bool {
	if a.Vertex != b.Vertex {
		return a.Vertex < b.Vertex
	}
	return a.Subtask < b.Subtask
}

func sortedTasks[V any](m map[scheduler.TaskID]V) []scheduler.TaskID {
	ids := make([]scheduler.TaskID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return lessTask(ids[i], ids[j]) })
	return ids
}
