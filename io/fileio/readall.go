package fileio

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/dagflow/dagflow/io/filesystem"
)

// ReadAllLines returns the lines of the committed (visible) files under
// dir, resolved through reg (nil: local files only). Hidden files, such as
// in-progress and pending part files, are ignored. Files are read in
// natural order of their paths (part-00000-2 before part-00000-10), each
// compressed file decompressed. It is meant for tests and examples that
// check a job's output; it holds everything in memory.
func ReadAllLines(ctx context.Context, reg *filesystem.Registry, dir string) ([]string, error) {
	files, err := filesystem.ExpandInputs(ctx, reg, []string{dir})
	if err != nil {
		return nil, fmt.Errorf("fileio: %w", err)
	}
	sort.SliceStable(files, func(i, j int) bool { return naturalLess(files[i].Path, files[j].Path) })
	pool := newBufPool(DefaultBufferSize)
	var out []string
	for _, f := range files {
		sc, err := openScanner(ctx, reg, splitData{Path: f.Path, End: f.Size, Whole: true}, pool, DefaultMaxLineLength)
		if err != nil {
			return nil, err
		}
		for {
			line, err := sc.next()
			if err != nil {
				sc.Close()
				if err == io.EOF {
					break
				}
				return nil, err
			}
			out = append(out, string(line))
		}
	}
	return out, nil
}

// naturalLess compares strings treating runs of digits as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := trimZeros(a[:da]), trimZeros(b[:db])
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if da != db {
				return da < db
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
