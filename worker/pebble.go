package worker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/pebblestate"
)

// The Pebble state backend: with Config.StateBackend = pebble, every
// operator instance that asks for a KeyedStore gets an embedded Pebble
// database on the worker's local disk, owning the key groups of its
// subtask. Checkpoints upload only the SST files that the last completed
// checkpoint did not hold (incremental); restores download the files of
// the previous instances whose key groups overlap (rescaling copies the
// keys of the new range).

// keyedStoreOpener returns the KeyedStore opener of an operator node, or
// nil for the heap backend.
func (t *task) keyedStoreOpener(ctx context.Context, n *opNode) func() (engine.KeyedStore, error) {
	if t.plan.Config.StateBackend != dag.BackendPebble || n.op == nil {
		return nil
	}
	return func() (engine.KeyedStore, error) {
		if n.store != nil {
			return nil, fmt.Errorf("%s opened its keyed state store twice", n.name)
		}
		par := t.plan.Vertices[n.vid].Parallelism
		maxPar := t.plan.Config.MaxParallelism
		from, to := -1, 0
		for kg := 0; kg < maxPar; kg++ {
			if engine.SubtaskForKeyGroup(kg, maxPar, par) == t.dep.ID.Subtask {
				if from < 0 {
					from = kg
				}
				to = kg + 1
			}
		}
		if from < 0 {
			from, to = 0, 0 // no key group: an empty store
		}
		base := t.w.cfg.StateDir
		if base == "" {
			base = filepath.Join(os.TempDir(), "dagflow-state")
		}
		dir := filepath.Join(base, safeName(t.dep.Job), fmt.Sprintf("v%d-s%d-a%d", n.vid, t.dep.ID.Subtask, t.dep.Attempt))
		opts := pebblestate.Options{KeyGroupFrom: from, KeyGroupTo: to, Logger: t.log.With("vertex", n.name, "component", "pebble")}
		var inputs []pebblestate.RestoreInput
		if r := t.dep.Restore; r != nil && r.Vertices[n.vid] != nil {
			for _, os := range r.Vertices[n.vid].Backends {
				in, err := pebblestate.InputFromState(os)
				if err != nil {
					return nil, err
				}
				inputs = append(inputs, in)
			}
		}
		var (
			st  *pebblestate.Store
			err error
		)
		if len(inputs) > 0 {
			storage, serr := t.w.storageFor(t.dep.Job, t.plan)
			if serr != nil {
				return nil, serr
			}
			st, err = pebblestate.Restore(ctx, dir, opts, inputs, downloader{storage})
			if err != nil {
				return nil, &RestoreError{Checkpoint: t.dep.Restore.Checkpoint, Err: fmt.Errorf("%s: %w", n.name, err)}
			}
		} else if st, err = pebblestate.Open(ctx, dir, opts); err != nil {
			return nil, fmt.Errorf("%s: open state store: %w", n.name, err)
		}
		n.store = st
		return st, nil
	}
}

// downloader fetches checkpointed files to local disk.
type downloader struct{ st StateStorage }

func (d downloader) Download(ctx context.Context, h checkpoint.Handle, localPath string) error {
	if dl, ok := d.st.(interface {
		Download(context.Context, checkpoint.Handle, string) error
	}); ok {
		return dl.Download(ctx, h, localPath)
	}
	b, err := d.st.Read(ctx, h)
	if err != nil {
		return err
	}
	return os.WriteFile(localPath, b, 0o644)
}

// closeStores closes the task's state stores and removes their files.
func (t *task) closeStores() error {
	var first error
	for _, n := range t.nodes {
		if n.store == nil {
			continue
		}
		dir := n.store.Dir()
		if err := n.store.Close(); err != nil && first == nil {
			first = err
		}
		os.RemoveAll(dir)
		n.store = nil
	}
	return first
}
