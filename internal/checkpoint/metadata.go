package checkpoint

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/dagflow/dagflow/io/filesystem"
)

// MetadataFile is the name of the metadata file in a checkpoint or
// savepoint directory.
const MetadataFile = "_metadata"

// metadataMagic starts every encoded Metadata.
var metadataMagic = [8]byte{'D', 'F', 'C', 'K', 'P', 'T', 0, '\n'}

// metadataHeaderLen is magic (8) + version (4) + body length (8) + CRC (4).
const metadataHeaderLen = 24

// maxMetadataBody bounds the body length a decoder accepts (1 GiB).
const maxMetadataBody = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the CRC-32C of b.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// EncodeMetadata encodes md: a header (magic "DFCKPT\0\n", format version,
// body length and CRC-32C of the body, big-endian) followed by a JSON body.
// md.Version is written as FormatVersion.
func EncodeMetadata(md *Metadata) ([]byte, error) {
	m := *md
	m.Version = FormatVersion
	body, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode metadata of checkpoint %d: %w", md.ID, err)
	}
	out := make([]byte, metadataHeaderLen, metadataHeaderLen+len(body))
	copy(out, metadataMagic[:])
	binary.BigEndian.PutUint32(out[8:], FormatVersion)
	binary.BigEndian.PutUint64(out[12:], uint64(len(body)))
	binary.BigEndian.PutUint32(out[20:], crc32c(body))
	return append(out, body...), nil
}

// DecodeMetadata decodes what EncodeMetadata wrote. Errors match
// ErrCorrupt (truncated data, bad magic, checksum mismatch, bad body) or
// ErrUnknownVersion.
func DecodeMetadata(data []byte) (*Metadata, error) {
	if len(data) < metadataHeaderLen {
		return nil, fmt.Errorf("%w: metadata of %d bytes is shorter than its %d-byte header", ErrCorrupt, len(data), metadataHeaderLen)
	}
	if !bytes.Equal(data[:8], metadataMagic[:]) {
		return nil, fmt.Errorf("%w: bad magic %q, not checkpoint metadata", ErrCorrupt, data[:8])
	}
	if v := binary.BigEndian.Uint32(data[8:]); v != FormatVersion {
		return nil, fmt.Errorf("%w %d (this build reads version %d)", ErrUnknownVersion, v, FormatVersion)
	}
	n := binary.BigEndian.Uint64(data[12:])
	body := data[metadataHeaderLen:]
	if n > maxMetadataBody || n != uint64(len(body)) {
		return nil, fmt.Errorf("%w: header says %d body bytes, file has %d", ErrCorrupt, n, len(body))
	}
	if want, got := binary.BigEndian.Uint32(data[20:]), crc32c(body); want != got {
		return nil, fmt.Errorf("%w: body checksum mismatch (header %08x, body %08x)", ErrCorrupt, want, got)
	}
	md := new(Metadata)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(md); err != nil {
		return nil, fmt.Errorf("%w: metadata body: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after metadata body", ErrCorrupt)
	}
	if md.Version != FormatVersion {
		return nil, fmt.Errorf("%w: body version %d differs from header version %d", ErrCorrupt, md.Version, FormatVersion)
	}
	if err := validateHandles(md); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return md, nil
}

// validateHandles checks that every handle is well formed.
func validateHandles(md *Metadata) error {
	return forEachHandle(md, func(where string, h *Handle) error {
		switch {
		case h.Length < 0 || h.Offset < 0 || h.Offset > (1<<62)-h.Length:
			return fmt.Errorf("%s: bad range offset %d length %d", where, h.Offset, h.Length)
		case h.Path == "" && int64(len(h.Inline)) != h.Length:
			return fmt.Errorf("%s: inline state of %d bytes, length says %d", where, len(h.Inline), h.Length)
		case h.Path != "" && h.Inline != nil:
			return fmt.Errorf("%s: handle has both a path and inline state", where)
		}
		return nil
	})
}

// forEachHandle calls fn with every handle md references and a description
// of where it is ("task 3/1 vertex 2 key group 17"), stopping at the first
// error.
func forEachHandle(md *Metadata, fn func(where string, h *Handle) error) error {
	for ti := range md.Tasks {
		t := &md.Tasks[ti]
		for oi := range t.Operators {
			op := &t.Operators[oi]
			where := func(kind string, i int) string {
				return fmt.Sprintf("task %d/%d vertex %d %s %d", t.Task, t.Subtask, op.Vertex, kind, i)
			}
			for i := range op.KeyGroups {
				if err := fn(where("key group", op.KeyGroups[i].KeyGroup), &op.KeyGroups[i].Handle); err != nil {
					return err
				}
			}
			for i := range op.Operator {
				if err := fn(where("operator state", i), &op.Operator[i]); err != nil {
					return err
				}
			}
			for i := range op.Shared {
				if err := fn(where("shared file "+op.Shared[i].Name, i), &op.Shared[i].Handle); err != nil {
					return err
				}
			}
			for i := range op.Private {
				if err := fn(where("private file "+op.Private[i].Name, i), &op.Private[i].Handle); err != nil {
					return err
				}
			}
			for i := range op.SinkState {
				if err := fn(where("sink state", i), &op.SinkState[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ReadMetadata reads and decodes the metadata file at uri. A missing file
// gives an error matching fs.ErrNotExist; bad content one matching
// ErrCorrupt or ErrUnknownVersion. Errors name uri.
func ReadMetadata(ctx context.Context, reg *filesystem.Registry, uri string) (*Metadata, error) {
	data, err := readAll(ctx, reg, uri)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read metadata %s: %w", uri, err)
	}
	md, err := DecodeMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: metadata %s: %w", uri, err)
	}
	return md, nil
}

func readAll(ctx context.Context, reg *filesystem.Registry, uri string) ([]byte, error) {
	fsys, p, err := reg.Resolve(uri)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeFileAtomic writes data to a temporary file next to uri and renames
// it to uri, so readers see the old content or the new one, never a part.
func writeFileAtomic(ctx context.Context, reg *filesystem.Registry, uri string, data []byte) error {
	fsys, p, err := reg.Resolve(uri)
	if err != nil {
		return err
	}
	tmp := p + ".tmp-" + randomHex(6)
	w, err := fsys.Create(ctx, tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		_ = fsys.Remove(ctx, tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := w.Close(); err != nil {
		_ = fsys.Remove(ctx, tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := fsys.Rename(ctx, tmp, p); err != nil {
		_ = fsys.Remove(ctx, tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, p, err)
	}
	return nil
}

// fileNeed is the size a file must have for the handles referencing it.
type fileNeed struct {
	size  int64
	where string
}

// Verify checks that every file md references exists and is long enough
// for the byte ranges in it, stating each distinct file once. Inline
// handles are checked against their CRC. The error names the file and the
// handle that needs it.
func Verify(ctx context.Context, reg *filesystem.Registry, md *Metadata) error {
	need := map[string]fileNeed{}
	err := forEachHandle(md, func(where string, h *Handle) error {
		if h.Path == "" {
			if crc32c(h.Inline) != h.CRC {
				return fmt.Errorf("%w: inline state of %s fails its CRC", ErrCorrupt, where)
			}
			return nil
		}
		end := h.Offset + h.Length
		if cur, ok := need[h.Path]; !ok || end > cur.size {
			need[h.Path] = fileNeed{size: end, where: where}
		}
		return nil
	})
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(need))
	for p := range need {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		n := need[p]
		fsys, rp, err := reg.Resolve(p)
		if err != nil {
			return fmt.Errorf("file %s of %s: %w", p, n.where, err)
		}
		fi, err := fsys.Stat(ctx, rp)
		if err != nil {
			return fmt.Errorf("file %s of %s: %w", p, n.where, err)
		}
		if fi.Size < n.size {
			return fmt.Errorf("%w: file %s has %d bytes, %s needs %d", ErrCorrupt, p, fi.Size, n.where, n.size)
		}
	}
	return nil
}

// isNotExist reports whether err says a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// joinURI appends slash-separated elements to a base URI or path.
func joinURI(base string, elems ...string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(base, "/"))
	for _, e := range elems {
		b.WriteByte('/')
		b.WriteString(strings.Trim(e, "/"))
	}
	return b.String()
}
