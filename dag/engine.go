package dag

import (
	"context"

	"github.com/dagflow/dagflow/dag/engine"
)

// sourceFactory is what a source vertex holds.
type sourceFactory interface {
	bounded() bool
	splits(ctx context.Context, sc SplitContext) ([]Split, error)
	newInstance() engine.SourceInstance
}
