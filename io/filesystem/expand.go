package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// maxDepth bounds directory recursion in ExpandInputs so that symbolic
// link cycles fail instead of recursing forever.
const maxDepth = 128

// Hidden reports whether the last element of path starts with '.' or '_'.
// Such files are in-progress or bookkeeping files (sinks write
// ".part-*.inprogress"; other tools write "_SUCCESS", "_temporary") and
// are skipped when a directory or glob is expanded.
func Hidden(path string) bool {
	b := BaseName(path)
	return b != "" && (b[0] == '.' || b[0] == '_')
}

// BaseName returns the last element of a local path or URI, ignoring
// trailing separators.
func BaseName(path string) string {
	path = strings.TrimRight(path, "/"+string(os.PathSeparator))
	if i := strings.LastIndexAny(path, "/"+string(os.PathSeparator)); i >= 0 {
		return path[i+1:]
	}
	return path
}

// Join appends name to dir with a '/' (or the OS separator for local
// paths ending in one), for local paths and URIs alike.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	if strings.HasSuffix(dir, "/") || strings.HasSuffix(dir, string(os.PathSeparator)) {
		return dir + name
	}
	if _, ok := SchemeOf(dir); !ok && os.PathSeparator != '/' {
		return dir + string(os.PathSeparator) + name
	}
	return dir + "/" + name
}

// hasMeta reports whether the path part of p (after "scheme://authority"
// for URIs) contains glob metacharacters.
func hasMeta(p string) bool {
	if _, ok := SchemeOf(p); ok {
		rest := p[strings.Index(p, "://")+3:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			p = rest[i:]
		} else {
			p = ""
		}
	}
	return strings.ContainsAny(p, "*?[")
}

// InputNotExistError is returned by ExpandInputs for an input path that
// does not exist or a pattern that matches nothing. It matches
// fs.ErrNotExist.
type InputNotExistError struct {
	// Path is the input as given (or as the caller chose to name it).
	Path string
	// Glob reports a pattern that matched no file.
	Glob bool
	// LookedFor, if set, is the absolute location Path was resolved to;
	// the message shows it when it differs from Path.
	LookedFor string
}

func (e *InputNotExistError) Error() string {
	s := fmt.Sprintf("input path %q does not exist", e.Path)
	if e.Glob {
		s = fmt.Sprintf("input path %q does not exist (pattern matches no file)", e.Path)
	}
	if e.LookedFor != "" && e.LookedFor != e.Path {
		s += " (looked for " + e.LookedFor + ")"
	}
	return s
}

func (e *InputNotExistError) Unwrap() error { return fs.ErrNotExist }

// ExpandInputs turns input paths into the list of files to read. Each
// path, resolved through reg, may be
//
//   - a file: included as is, even if its name is hidden;
//   - a directory: all files below it, recursively, skipping every entry
//     whose name starts with '.' or '_' (see Hidden) and empty
//     directories;
//   - a glob pattern (containing '*', '?' or '['): every match, files
//     and directories expanded as above, leaving out hidden names.
//
// Files are returned in input order, each input's files sorted by path,
// without duplicates. FileInfo.Path can be resolved through reg again:
// the files of a file:// input are file:// URIs (see FileURI), those of a
// plain local path are local paths. A path that does not exist, or a
// pattern matching nothing, yields an *InputNotExistError
// (`input path "X" does not exist`) matching fs.ErrNotExist.
func ExpandInputs(ctx context.Context, reg *Registry, paths []string) ([]FileInfo, error) {
	var out []FileInfo
	seen := make(map[string]bool)
	addPath := func(fi FileInfo) {
		if !seen[fi.Path] {
			seen[fi.Path] = true
			out = append(out, fi)
		}
	}
	for _, p := range paths {
		fsys, fp, err := reg.Resolve(p)
		if err != nil {
			return nil, err
		}
		add := addPath
		if scheme, ok := SchemeOf(p); ok && scheme == "file" {
			// The file system speaks local paths: hand back URIs, as given.
			add = func(fi FileInfo) {
				fi.Path = FileURI(fi.Path)
				addPath(fi)
			}
		}
		if hasMeta(fp) {
			matches, err := fsys.Glob(ctx, fp)
			if err != nil {
				return nil, fmt.Errorf("filesystem: expanding input pattern %q: %w", p, err)
			}
			n := 0
			for _, m := range matches {
				if Hidden(m.Path) {
					continue
				}
				n++
				if !m.IsDir {
					add(m)
					continue
				}
				if err := walk(ctx, fsys, m.Path, 0, add); err != nil {
					return nil, err
				}
			}
			if n == 0 {
				return nil, &InputNotExistError{Path: p, Glob: true}
			}
			continue
		}
		st, err := fsys.Stat(ctx, fp)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &InputNotExistError{Path: p}
			}
			return nil, fmt.Errorf("filesystem: input path %q: %w", p, err)
		}
		if !st.IsDir {
			add(st)
			continue
		}
		if err := walk(ctx, fsys, st.Path, 0, add); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func walk(ctx context.Context, fsys FileSystem, dir string, depth int, add func(FileInfo)) error {
	if depth > maxDepth {
		return fmt.Errorf("filesystem: input directory %q nested more than %d levels (symbolic link cycle?)", dir, maxDepth)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := fsys.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("filesystem: listing input directory %q: %w", dir, err)
	}
	for _, e := range entries {
		if Hidden(e.Path) {
			continue
		}
		if e.IsDir {
			if err := walk(ctx, fsys, e.Path, depth+1, add); err != nil {
				return err
			}
			continue
		}
		add(e)
	}
	return nil
}
