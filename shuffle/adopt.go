package shuffle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PartitionFiles returns where Local stores the data and index files of a
// committed sort-merge partition: Dir/<job>/<result>/<producer>.<attempt>
// .data and .index (job and result escaped). A producer that hands its
// partitions to another service reads the paths of what it committed here.
func (l *Local) PartitionFiles(id PartitionID) (dataPath, indexPath string) {
	dir, stem := l.fb.partitionBase(id)
	return filepath.Join(dir, stem+".data"), filepath.Join(dir, stem+".index")
}

// Adopt registers as committed blocking partition id the sort-merge data
// and index files another writer (usually another process's Local) produced.
//
// It validates the files first: the index checksum, header and regions
// (they must tile the data file exactly, see README.md), the data file's
// size and header. Block checksums are verified when consumers read, as for
// partitions this service wrote. Then it renames the data file and then the
// index file to PartitionFiles(id), and only after both renames the
// partition becomes visible to OpenReader and Stat. The files must be on the
// file system of LocalConfig.Dir (a rename does not copy); a file that is
// already at its final path is left there.
//
// Adopt is idempotent: adopting a partition that is already committed
// succeeds, and deletes the given files if they still exist elsewhere (a
// retry of an adoption whose reply was lost finds them already moved).
// Other errors leave the given files where they are, except when the job was
// released meanwhile (then they are deleted and the error wraps
// ErrNotExist). A bad index or data file yields an error wrapping
// ErrCorrupt that names the file; missing files yield ErrNotExist. Adopting
// an id a writer is writing or wrote as a pipelined partition yields
// ErrExist.
func (l *Local) Adopt(id PartitionID, dataPath, indexPath string) error {
	if l.fb.cfg.Layout != LayoutSortMerge {
		return fmt.Errorf("shuffle: partition %s: adopt needs the sort-merge layout, service uses %s", id, l.fb.cfg.Layout)
	}
	c := l.c
	finalData, finalIndex := l.PartitionFiles(id)
	// Reserve the id with an entry that has neither writer nor part:
	// readers see an uncommitted blocking partition (ErrNotExist), a
	// concurrent Adopt or CreateWriter of the same id fails with ErrExist.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	var pending *pipe
	if e := c.lookupLocked(id); e != nil && e.mode == 0 {
		pending = e.pipe // only readers waiting for a pipelined writer
	} else if e != nil {
		done := e.part != nil
		c.mu.Unlock()
		if !done {
			return fmt.Errorf("%w: partition %s is being written or adopted", ErrExist, id)
		}
		// Already adopted: drop copies that are still around.
		var errs []error
		for _, p := range [][2]string{{dataPath, finalData}, {indexPath, finalIndex}} {
			if !samePath(p[0], p[1]) {
				errs = append(errs, l.fb.removeFiles(p[0]))
			}
		}
		if err := errors.Join(errs...); err != nil {
			l.fb.log.Warn("shuffle: duplicate adopted files not removed", "partition", id.String(), "err", err)
		}
		return nil
	}
	if _, ok := c.released[id.Job]; ok {
		c.mu.Unlock()
		l.discardStaged(id, dataPath, indexPath, finalData, finalIndex)
		return fmt.Errorf("%w: partition %s: job released", ErrNotExist, id)
	}
	e := &entry{mode: Blocking}
	j := c.jobLocked(id.Job)
	j.parts[id] = e
	j.modes[id.Result] = Blocking
	c.mu.Unlock()
	if pending != nil {
		pending.fail(fmt.Errorf("%w: partition %s is blocking: open readers after commit", ErrNotExist, id))
	}
	unreserve := func() {
		c.mu.Lock()
		if j := c.jobs[id.Job]; j != nil && j.parts[id] == e {
			delete(j.parts, id)
		}
		c.mu.Unlock()
	}

	st, err := validateStaged(id, dataPath, indexPath)
	if err != nil {
		unreserve()
		return err
	}
	dir := filepath.Dir(finalData)
	l.fb.mu.Lock()
	l.fb.jobDirs[id.Job] = struct{}{}
	l.fb.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		unreserve()
		return ioErr("create directory", id, dir, err)
	}

	// Rename and publish under the registry lock, like Commit: a Release
	// either removed the reservation before (we discard the files) or will
	// find the committed partition and delete it.
	c.mu.Lock()
	if c.closed || c.lookupLocked(id) != e {
		closed := c.closed
		c.mu.Unlock()
		l.discardStaged(id, dataPath, indexPath, finalData, finalIndex)
		if closed {
			return ErrClosed
		}
		return fmt.Errorf("%w: partition %s was released while being adopted", ErrNotExist, id)
	}
	if err := renameInto(id, dataPath, finalData); err != nil {
		delete(c.jobs[id.Job].parts, id)
		c.mu.Unlock()
		return err
	}
	// The index appears last: a partition whose index exists is complete.
	if err := renameInto(id, indexPath, finalIndex); err != nil {
		if !samePath(dataPath, finalData) {
			if rerr := os.Rename(finalData, dataPath); rerr != nil {
				l.fb.log.Warn("shuffle: adopted data file not moved back", "partition", id.String(), "err", rerr)
			}
		}
		delete(c.jobs[id.Job].parts, id)
		c.mu.Unlock()
		return err
	}
	e.part = &smPart{b: l.fb, id: id, dataPath: finalData, indexPath: finalIndex, st: st}
	c.mu.Unlock()
	l.fb.log.Debug("shuffle: adopted partition", "partition", id.String(), "bytes", st.Bytes, "subpartitions", st.Subpartitions)
	return nil
}

// discardStaged deletes the files handed to an Adopt that cannot proceed,
// unless they already are the partition's own files.
func (l *Local) discardStaged(id PartitionID, dataPath, indexPath, finalData, finalIndex string) {
	var errs []error
	if !samePath(dataPath, finalData) {
		errs = append(errs, l.fb.removeFiles(dataPath))
	}
	if !samePath(indexPath, finalIndex) {
		errs = append(errs, l.fb.removeFiles(indexPath))
	}
	if err := errors.Join(errs...); err != nil {
		l.fb.log.Warn("shuffle: staged files not removed", "partition", id.String(), "err", err)
	}
}

// validateStaged checks a data and index file pair and returns the
// partition's Stat.
func validateStaged(id PartitionID, dataPath, indexPath string) (Stat, error) {
	missing := func(what, path string, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: partition %s: %s file %s is missing", ErrNotExist, id, what, path)
		}
		return ioErr("read", id, path, err)
	}
	corrupt := func(path string, off int64, err error) error {
		return fmt.Errorf("%w: partition %s: %s at offset %d: %v", ErrCorrupt, id, path, off, err)
	}
	ib, err := os.ReadFile(indexPath)
	if err != nil {
		return Stat{}, missing("index", indexPath, err)
	}
	idx, err := decodeIndex(ib)
	if err != nil {
		return Stat{}, corrupt(indexPath, 0, err)
	}
	f, err := os.Open(dataPath)
	if err != nil {
		return Stat{}, missing("data", dataPath, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Stat{}, ioErr("stat", id, dataPath, err)
	}
	if !fi.Mode().IsRegular() {
		return Stat{}, fmt.Errorf("shuffle: partition %s: data file %s is not a regular file", id, dataPath)
	}
	if fi.Size() != idx.dataSize {
		return Stat{}, corrupt(dataPath, fi.Size(), fmt.Errorf("data file is %d bytes, index says %d (truncated?)", fi.Size(), idx.dataSize))
	}
	var h [fileHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return Stat{}, corrupt(dataPath, 0, err)
	}
	if err := checkFileHeader(h[:], 0); err != nil {
		return Stat{}, corrupt(dataPath, 0, err)
	}
	return Stat{Bytes: idx.dataSize + int64(len(ib)), RawBytes: idx.raw, Buffers: idx.buffers, Subpartitions: idx.subs, Files: 2}, nil
}

// renameInto moves a staged file to its final path.
func renameInto(id PartitionID, from, to string) error {
	if samePath(from, to) {
		return nil
	}
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("shuffle: partition %s: rename %s to %s: staged files must be on the service's file system: %w", id, from, to, err)
		}
		return ioErr("rename", id, from, err)
	}
	return nil
}

func samePath(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b)
}
