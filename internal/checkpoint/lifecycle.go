package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Cleanup reports what completing or aborting a checkpoint removed.
type Cleanup struct {
	// Subsumed are the checkpoints no longer retained.
	Subsumed []int64
	// Removed are the files and directories removed.
	Removed []string
	// Errors are removals that failed; the files are left behind (Recover
	// removes them later) and the checkpoint operation still succeeded.
	Errors []error
}

// Complete makes md a completed checkpoint: it writes chk-<id>/_metadata
// atomically (a temporary file renamed), registers the files md
// references, and subsumes the oldest completed checkpoints beyond
// Options.Retain, deleting their exclusive files and every file no
// retained checkpoint references anymore (logged). md.Job, if set, must be
// the storage's job. An id not newer than the latest completed checkpoint
// fails with ErrSubsumed.
func (s *Storage) Complete(ctx context.Context, md *Metadata) error {
	_, err := s.CompleteReport(ctx, md)
	return err
}

// CompleteReport is Complete returning what it removed.
func (s *Storage) CompleteReport(ctx context.Context, md *Metadata) (Cleanup, error) {
	if md == nil || md.ID <= 0 {
		return Cleanup{}, errors.New("checkpoint: complete: metadata without a positive checkpoint id")
	}
	if md.Job != "" && md.Job != s.job {
		return Cleanup{}, fmt.Errorf("checkpoint %d: metadata of job %q given to the storage of job %q", md.ID, md.Job, s.job)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	latest := s.latest
	s.mu.Unlock()
	if md.ID <= latest {
		return Cleanup{}, fmt.Errorf("checkpoint %d: %w by completed checkpoint %d", md.ID, ErrSubsumed, latest)
	}
	m := *md
	m.Job = s.job
	data, err := EncodeMetadata(&m)
	if err != nil {
		return Cleanup{}, err
	}
	uri := joinURI(s.CheckpointDir(md.ID), MetadataFile)
	if err := writeFileAtomic(ctx, s.reg, uri, data); err != nil {
		return Cleanup{}, fmt.Errorf("checkpoint %d: write metadata: %w", md.ID, err)
	}

	s.mu.Lock()
	if err := s.registry.Register(md.ID, &m); err != nil {
		s.mu.Unlock()
		return Cleanup{}, err
	}
	s.completed = append(s.completed, md.ID)
	s.latest = md.ID
	s.maxSeen = max(s.maxSeen, md.ID)
	s.owners[md.ID] = true
	var released []string
	var subsumed []int64
	for len(s.completed) > s.opts.Retain {
		old := s.completed[0]
		s.completed = s.completed[1:]
		subsumed = append(subsumed, old)
		released = append(released, s.registry.Unregister(old)...)
	}
	s.mu.Unlock()

	c := s.cleanup(ctx, released, subsumed)
	s.log.Info("checkpoint completed", "id", md.ID, "metadata", uri, "bytes", len(data),
		"subsumed", c.Subsumed, "removed", len(c.Removed), "removeErrors", len(c.Errors))
	return c, nil
}

// Abort discards checkpoint id, which never completed: it removes its
// exclusive files (chk-<id>/) and the shared files it uploaded
// (shared/chk-<id>/) unless a completed checkpoint references them. Files
// that writers still create after Abort are removed by a later Recover.
func (s *Storage) Abort(ctx context.Context, id int64) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if s.registry.Registered(id) {
		s.mu.Unlock()
		return fmt.Errorf("checkpoint %d: cannot abort a completed checkpoint", id)
	}
	s.aborted[id] = true
	s.owners[id] = true
	s.maxSeen = max(s.maxSeen, id)
	s.mu.Unlock()
	c := s.cleanup(ctx, nil, nil)
	s.log.Info("checkpoint aborted", "id", id, "removed", len(c.Removed), "removeErrors", len(c.Errors))
	if len(c.Errors) > 0 {
		return fmt.Errorf("checkpoint %d: abort: %w", id, errors.Join(c.Errors...))
	}
	return nil
}

// dead reports whether the directories of checkpoint id can go once
// nothing references their files. Called with s.mu held.
func (s *Storage) dead(id int64) bool {
	return !s.registry.Registered(id) && (id <= s.latest || s.aborted[id])
}

// cleanup removes the files in released (no longer referenced) and the
// directories of dead checkpoints whose files nobody references; for
// subsumed checkpoints whose directory must stay, it removes their
// metadata file.
func (s *Storage) cleanup(ctx context.Context, released []string, subsumed []int64) Cleanup {
	c := Cleanup{Subsumed: subsumed}
	s.mu.Lock()
	var dirs []int64
	for id := range s.owners {
		if s.dead(id) && s.registry.OwnerRefs(id) == 0 {
			dirs = append(dirs, id)
			delete(s.owners, id)
			delete(s.aborted, id)
		}
	}
	for id := range s.aborted {
		if id <= s.latest {
			delete(s.aborted, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(dirs)
	gone := map[int64]bool{}
	for _, id := range dirs {
		gone[id] = true
	}
	var files []string
	for _, p := range released {
		id, ok := s.owner(p)
		switch {
		case !ok:
			s.log.Debug("checkpoint: not deleting unreferenced file outside the job's checkpoint directory", "file", p)
		case id == ownerJob || !gone[id]:
			files = append(files, p)
		}
	}
	for _, id := range subsumed {
		if !gone[id] {
			files = append(files, joinURI(s.CheckpointDir(id), MetadataFile))
		}
	}
	for _, id := range dirs {
		for _, d := range []string{s.CheckpointDir(id), s.sharedCheckpointDir(id)} {
			if err := s.rootFS.RemoveAll(ctx, s.resolved(d)); err != nil {
				c.Errors = append(c.Errors, fmt.Errorf("remove %s: %w", d, err))
				continue
			}
			c.Removed = append(c.Removed, d)
		}
	}
	for _, p := range files {
		if err := removeFile(ctx, s, p); err != nil {
			c.Errors = append(c.Errors, err)
			continue
		}
		c.Removed = append(c.Removed, p)
	}
	for _, err := range c.Errors {
		s.log.Warn("checkpoint: cleanup failed; the file stays until a later Recover", "err", err)
	}
	return c
}

// resolved returns the rootFS path of a URI below the root.
func (s *Storage) resolved(uri string) string {
	return s.rootPath + strings.TrimPrefix(uri, s.root)
}

// Completed returns the ids of the retained completed checkpoints,
// ascending.
func (s *Storage) Completed() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.completed)
}

// NextID returns an id larger than every checkpoint id this storage has
// seen (completed, aborted, written or found on disk by Recover).
func (s *Storage) NextID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSeen + 1
}

// ReuploadCandidates returns the referenced files (shared segments in
// practice) whose size exceeds MaxSpaceAmplification times the bytes
// retained checkpoints still reference. An incremental backend should
// upload its live files found there again instead of referencing them, so
// the segment can be deleted once older checkpoints are subsumed. The
// registry lives where Complete runs (the coordinator), which hands the
// set to the tasks.
func (s *Storage) ReuploadCandidates() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registry.Amplified(s.opts.MaxSpaceAmplification)
}

// Usage returns a referenced file's size and the bytes of it retained
// checkpoints reference.
func (s *Storage) Usage(path string) (size, live int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registry.Usage(path)
}

// Refs returns how many retained checkpoints reference path.
func (s *Storage) Refs(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registry.Refs(path)
}

// checkpointDirs lists the chk-<id> directories under the root, ascending.
func (s *Storage) checkpointDirs(ctx context.Context, dir string) ([]int64, error) {
	entries, err := s.rootFS.List(ctx, s.resolved(dir))
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", dir, err)
	}
	var ids []int64
	for _, e := range entries {
		if id, ok := parseCheckpointDir(path.Base(e.Path)); ok && e.IsDir {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Recover rebuilds the registry from the metadata of the checkpoints on
// storage, e.g. after a master restart. Every checkpoint with valid
// metadata is registered (the next Complete subsumes those beyond Retain);
// invalid ones are logged and treated as never completed. Directories of
// checkpoints older than the newest valid one that nothing references
// (aborted or unfinished checkpoints) are removed.
func (s *Storage) Recover(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	ids, err := s.checkpointDirs(ctx, s.root)
	if err != nil {
		return err
	}
	sharedIDs, err := s.checkpointDirs(ctx, joinURI(s.root, "shared"))
	if err != nil {
		return err
	}
	reg := NewRegistry(s.owner)
	var completed []int64
	owners := map[int64]bool{}
	var maxSeen int64
	for _, id := range append(ids, sharedIDs...) {
		owners[id] = true
		maxSeen = max(maxSeen, id)
	}
	for _, id := range ids {
		uri := joinURI(s.CheckpointDir(id), MetadataFile)
		md, err := ReadMetadata(ctx, s.reg, uri)
		if isNotExist(err) {
			continue // never completed
		}
		if err != nil {
			s.log.Warn("checkpoint: ignoring checkpoint with unreadable metadata", "id", id, "err", err)
			continue
		}
		if md.ID != id {
			s.log.Warn("checkpoint: ignoring metadata of another checkpoint", "file", uri, "metadataID", md.ID)
			continue
		}
		if err := reg.Register(id, md); err != nil {
			return err
		}
		completed = append(completed, id)
	}
	// Segments outlive the checkpoint that wrote them: learn their real
	// size for the space amplification.
	for _, p := range reg.Files() {
		if id, ok := s.owner(p); ok && strings.HasSuffix(p, ".seg") && strings.Contains(p, "/shared/") {
			fsys, rp, err := s.reg.Resolve(p)
			if err != nil {
				continue
			}
			if fi, err := fsys.Stat(ctx, rp); err == nil {
				reg.SetSize(p, fi.Size)
			} else {
				s.log.Warn("checkpoint: segment of a retained checkpoint is unreadable", "file", p, "owner", id, "err", err)
			}
		}
	}
	s.mu.Lock()
	s.registry = reg
	s.completed = completed
	s.latest = 0
	if n := len(completed); n > 0 {
		s.latest = completed[n-1]
	}
	s.owners = owners
	s.aborted = map[int64]bool{}
	s.maxSeen = max(s.maxSeen, maxSeen)
	s.mu.Unlock()
	c := s.cleanup(ctx, nil, nil)
	s.log.Info("checkpoint storage recovered", "root", s.root, "completed", completed, "removed", len(c.Removed))
	return nil
}

// Latest returns the newest checkpoint on storage whose metadata is valid
// and whose files all exist and are long enough (each distinct file is
// stated once). An invalid checkpoint is logged with the reason and the
// previous one tried. With none valid the error matches ErrNoCheckpoint
// and lists the reasons. Handles are absolute URIs.
func (s *Storage) Latest(ctx context.Context) (*Metadata, error) {
	ids, err := s.checkpointDirs(ctx, s.root)
	if err != nil {
		return nil, err
	}
	var reasons []error
	for i := len(ids) - 1; i >= 0; i-- {
		uri := joinURI(s.CheckpointDir(ids[i]), MetadataFile)
		md, err := ReadMetadata(ctx, s.reg, uri)
		if isNotExist(err) {
			// Never completed (in progress or aborted).
			reasons = append(reasons, err)
			continue
		}
		if err == nil && md.ID != ids[i] {
			err = fmt.Errorf("%w: metadata %s is of checkpoint %d", ErrCorrupt, uri, md.ID)
		}
		if err == nil {
			if err = Verify(ctx, s.reg, md); err != nil {
				err = fmt.Errorf("checkpoint %d: %w", ids[i], err)
			}
		}
		if err == nil {
			return md, nil
		}
		s.log.Warn("checkpoint: skipping invalid checkpoint, falling back to the previous one", "id", ids[i], "err", err)
		reasons = append(reasons, err)
	}
	if len(reasons) == 0 {
		return nil, fmt.Errorf("%w of job %q under %s: no checkpoint directory", ErrNoCheckpoint, s.job, s.root)
	}
	return nil, fmt.Errorf("%w of job %q under %s: %w", ErrNoCheckpoint, s.job, s.root, errors.Join(reasons...))
}
