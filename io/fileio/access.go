package fileio

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

// sharedFSHint ends the error of a local path that a process of the job
// cannot reach.
const sharedFSHint = "paths of a job must live on a filesystem every worker reaches (hdfs:// or a shared mount)"

// accessError classifies err, from accessing path (a URI or local path)
// for what (e.g. "read input"): a missing file or a denied permission is
// fatal (dag.Fatal), since retrying the task cannot make it appear, and the
// error says where local paths must live. Other errors are wrapped as
// they are, retriable.
func accessError(what, path string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("fileio: %s %s: %w", what, path, err)
	}
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err.Error() // the message names the path already
	}
	if lp, ok := filesystem.LocalPath(path); ok {
		return dag.Fatal(&unreachableError{msg: fmt.Sprintf("fileio: cannot %s %s on this host: %s; %s", what, lp, reason, sharedFSHint), err: err})
	}
	return dag.Fatal(&unreachableError{msg: fmt.Sprintf("fileio: cannot %s %s: %s", what, path, reason), err: err})
}

// unreachableError is a file that is missing or not accessible.
type unreachableError struct {
	msg string
	err error
}

func (e *unreachableError) Error() string { return e.msg }
func (e *unreachableError) Unwrap() error { return e.err }
