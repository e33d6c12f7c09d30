package master

import (
	"sync"

	"github.com/dagflow/dagflow/internal/protocol"
)

// inbox is the job master's ordered queue of events from other goroutines
// (workers, RPC handlers, clients). Producers never block; the job loop
// takes all queued events at once and handles them in arrival order.
type inbox struct {
	mu     sync.Mutex
	events []inboxEvent
	notify chan struct{}
}

// inboxEvent is one of the event types below.
type inboxEvent interface{ inboxEvent() }

// taskReport is a task outcome from a worker.
type taskReport struct{ st protocol.TaskStatus }

// checkpointReport is a worker's checkpoint acknowledgements and declines.
type checkpointReport struct{ rep protocol.CheckpointReport }

// savepointRequest is a client's savepoint request.
type savepointRequest struct{ req *savepointReq }

// workerJoined adds a worker (or a restarted one) to the pool.
type workerJoined struct{ gw WorkerGateway }

// workerLost says a worker is gone; rejoin says only the job's executor on
// it died and the worker may run the job again.
type workerLost struct {
	name   string
	rejoin bool
}

// shuffleServiceLost says an external shuffle service died.
type shuffleServiceLost struct{ location string }

func (taskReport) inboxEvent()         {}
func (checkpointReport) inboxEvent()   {}
func (savepointRequest) inboxEvent()   {}
func (workerJoined) inboxEvent()       {}
func (workerLost) inboxEvent()         {}
func (shuffleServiceLost) inboxEvent() {}

func newInbox() *inbox { return &inbox{notify: make(chan struct{}, 1)} }

// push queues ev and wakes the job loop. It never blocks.
func (in *inbox) push(ev inboxEvent) {
	in.mu.Lock()
	in.events = append(in.events, ev)
	in.mu.Unlock()
	select {
	case in.notify <- struct{}{}:
	default:
	}
}

// take removes and returns the queued events, oldest first.
func (in *inbox) take() []inboxEvent {
	in.mu.Lock()
	defer in.mu.Unlock()
	evs := in.events
	in.events = nil
	return evs
}
