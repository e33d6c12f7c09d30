package hdfs

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dagflow/dagflow/io/filesystem"
)

// Glob implements filesystem.FileSystem with path.Match syntax per path
// element. Directories are listed only for elements with metacharacters;
// a literal path is checked with one Stat. Unlike filepath.Glob, errors
// other than a missing directory (permission denied, an unreachable
// NameNode) are returned rather than treated as no match. A malformed
// pattern fails with an error matching filepath.ErrBadPattern, like
// Local's.
func (f *FileSystem) Glob(ctx context.Context, pattern string) ([]filesystem.FileInfo, error) {
	p, err := parse("glob", pattern)
	if err != nil {
		return nil, err
	}
	elems := strings.Split(strings.TrimPrefix(p.path, "/"), "/")
	for _, e := range elems {
		if _, err := path.Match(e, ""); err != nil {
			return nil, pathErr("glob", p, filepath.ErrBadPattern)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, pathErr("glob", p, err)
	}

	type candidate struct {
		p    hpath
		info *filesystem.FileInfo // known from a listing, or nil
	}
	root := p
	root.path = "/"
	cands := []candidate{{p: root}}
	for _, e := range elems {
		if e == "" { // the pattern is the root
			continue
		}
		var next []candidate
		for _, c := range cands {
			if !hasMeta(e) {
				next = append(next, candidate{p: c.p.join(e)})
				continue
			}
			if c.info != nil && !c.info.IsDir {
				continue
			}
			entries, err := f.list(ctx, c.p)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
				continue
			}
			if err != nil {
				return nil, pathErr("glob", p, err)
			}
			for i := range entries {
				name := path.Base(entries[i].Path)
				if ok, _ := path.Match(e, name); ok {
					next = append(next, candidate{p: c.p.join(name), info: &entries[i]})
				}
			}
		}
		cands = next
	}

	out := make([]filesystem.FileInfo, 0, len(cands))
	for _, c := range cands {
		if c.info != nil {
			out = append(out, *c.info)
			continue
		}
		st, err := f.Stat(ctx, c.p.String())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func hasMeta(elem string) bool { return strings.ContainsAny(elem, `*?[\`) }
