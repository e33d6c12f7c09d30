package master

import (
	"context"
	"fmt"

	"github.com/dagflow/dagflow/internal/protocol"
)

// guardedCode runs the committers of a JobCode in this process so that a
// panic becomes an error carrying the user's stack: the job fails instead
// of the master (or the embedding program) crashing. Split enumerators
// are guarded by the SplitCoordinator.
type guardedCode struct{ JobCode }

// Commit implements JobCode.
func (c guardedCode) Commit(ctx context.Context, vertex int, committables [][]byte) (err error) {
	defer protocol.CatchPanic(&err, fmt.Sprintf("committer of sink %d", vertex))
	return c.JobCode.Commit(ctx, vertex, committables)
}

// Abort implements JobCode.
func (c guardedCode) Abort(ctx context.Context, vertex int, committables [][]byte) (err error) {
	defer protocol.CatchPanic(&err, fmt.Sprintf("committer of sink %d (abort)", vertex))
	return c.JobCode.Abort(ctx, vertex, committables)
}

// Guarded wraps code so that a panic in one of its committers becomes an
// error carrying the user's stack (a job failure) instead of crashing the
// process: for code that runs in the master's own process, such as the
// plan of an embedded job.
func Guarded(code JobCode) JobCode { return guardedCode{code} }
