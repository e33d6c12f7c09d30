package shuffle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// sortBuf is the in-memory sort buffer of a sort-merge writer: payloads
// copied into fixed-size chunks plus, per subpartition, a linked list of
// entries in write order. Spilling walks the lists subpartition by
// subpartition, so grouping costs O(buffers) and no sorting. Chunks come from
// the service's chunk pool; the entry arrays are pooled with the sortBuf.
type sortBuf struct {
	chunks [][]byte
	ents   []sortEnt
	heads  []int32 // per list: first entry or -1; list subs is broadcast
	tails  []int32
	used   int // accounted bytes: chunk space consumed + entries
}

type sortEnt struct {
	chunk, off, n uint32 // payload in chunks[chunk][off:off+n]
	next          int32  // next entry of the same list or -1
}

const sortEntSize = 16 // accounted bytes per entry

func (sb *sortBuf) reset(lists int, cp *chunkPool) {
	for _, c := range sb.chunks {
		cp.put(c)
	}
	clear(sb.chunks)
	sb.chunks = sb.chunks[:0]
	sb.ents = sb.ents[:0]
	sb.used = 0
	if cap(sb.heads) < lists {
		sb.heads = make([]int32, lists)
		sb.tails = make([]int32, lists)
	}
	sb.heads, sb.tails = sb.heads[:lists], sb.tails[:lists]
	for i := range sb.heads {
		sb.heads[i], sb.tails[i] = -1, -1
	}
}

// add copies buf into the buffer; buf must fit in SortBufferBytes.
func (sb *sortBuf) add(list int, buf []byte, cp *chunkPool) {
	var c []byte
	if n := len(sb.chunks); n > 0 {
		c = sb.chunks[n-1]
	}
	if c == nil || cap(c)-len(c) < len(buf) {
		if c != nil {
			sb.used += cap(c) - len(c) // the unused tail is lost
		}
		if len(buf) > cp.size {
			c = make([]byte, 0, len(buf)) // not pooled
		} else {
			c = cp.get()
		}
		sb.chunks = append(sb.chunks, c)
	}
	ci := len(sb.chunks) - 1
	e := int32(len(sb.ents))
	sb.ents = append(sb.ents, sortEnt{chunk: uint32(ci), off: uint32(len(c)), n: uint32(len(buf)), next: -1})
	sb.chunks[ci] = append(c, buf...)
	sb.used += len(buf) + sortEntSize
	if t := sb.tails[list]; t >= 0 {
		sb.ents[t].next = e
	} else {
		sb.heads[list] = e
	}
	sb.tails[list] = e
}

func (sb *sortBuf) payload(e sortEnt) []byte {
	return sb.chunks[e.chunk][e.off : e.off+e.n]
}

// chunkPool recycles sort-buffer chunks. Unlike a sync.Pool it survives
// garbage collections, keeping at most max idle chunks (one sort buffer's
// worth): steady-state writers then allocate nothing.
type chunkPool struct {
	size int
	max  int
	mu   sync.Mutex
	free [][]byte
}

func (cp *chunkPool) get() []byte {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if n := len(cp.free); n > 0 {
		c := cp.free[n-1]
		cp.free[n-1] = nil
		cp.free = cp.free[:n-1]
		return c
	}
	return make([]byte, 0, cp.size)
}

func (cp *chunkPool) put(c []byte) {
	if cap(c) != cp.size {
		return
	}
	cp.mu.Lock()
	if len(cp.free) < cp.max {
		cp.free = append(cp.free, c[:0])
	}
	cp.mu.Unlock()
}

// smWriter writes a sort-merge partition: a data file of regions and an
// index file, both under temporary names until publish.
type smWriter struct {
	b    *fileBackend
	id   PartitionID
	subs int
	gone *doneFlag

	dataPath, indexPath string
	tmpData, tmpIndex   string
	f                   writeFile
	off                 int64 // logical size of the data file (written + in out)
	err                 error // sticky failure

	sb    *sortBuf
	bcast bool   // the sort buffer holds a broadcast section
	blk   []byte // raw block being built
	out   []byte // encoded blocks not yet written; written at WriteBufferSize
	ib    indexBuilder

	raw, buffers int64
	st           Stat
}

func (b *fileBackend) newSortMergeWriter(id PartitionID, dir, stem string, subs int, gone *doneFlag) (*smWriter, error) {
	w := &smWriter{
		b: b, id: id, subs: subs, gone: gone,
		dataPath:  filepath.Join(dir, stem+".data"),
		indexPath: filepath.Join(dir, stem+".index"),
	}
	w.tmpData = b.tmpName(w.dataPath)
	f, err := b.create(w.tmpData)
	if err != nil {
		return nil, ioErr("create", id, w.tmpData, err)
	}
	w.f = f
	w.sb, _ = b.sortBufs.Get().(*sortBuf)
	if w.sb == nil {
		w.sb = &sortBuf{}
	}
	w.sb.reset(subs+1, &b.chunks)
	if p, _ := b.outBufs.Get().(*[]byte); p != nil {
		w.out = (*p)[:0]
	} else {
		w.out = make([]byte, 0, b.cfg.WriteBufferSize+b.cfg.BlockSize+1024)
	}
	w.blk = make([]byte, 0, b.cfg.BlockSize+binary.MaxVarintLen32)
	w.out = appendFileHeader(w.out, 0)
	w.off = int64(len(w.out))
	return w, nil
}

// flushOut writes the encoded bytes collected in out to the data file.
func (w *smWriter) flushOut() {
	if w.err != nil || len(w.out) == 0 {
		return
	}
	if _, err := w.f.Write(w.out); err != nil {
		w.err = ioErr("write", w.id, w.tmpData, err)
		return
	}
	w.out = w.out[:0]
}

func (w *smWriter) flushBlock() {
	if len(w.blk) == 0 || w.err != nil {
		return
	}
	n := len(w.out)
	var err error
	w.out, err = w.b.cs.appendBlock(w.out, w.b.codec, w.blk)
	if err != nil {
		w.err = fmt.Errorf("shuffle: partition %s: encode block: %w", w.id, err)
		return
	}
	w.off += int64(len(w.out) - n)
	if len(w.out) >= w.b.cfg.WriteBufferSize {
		w.flushOut()
	}
	w.blk = w.blk[:0]
	if cap(w.blk) > 4*w.b.cfg.BlockSize {
		w.blk = make([]byte, 0, w.b.cfg.BlockSize+binary.MaxVarintLen32)
	}
}

func (w *smWriter) addRecord(buf []byte) {
	if n := recordLen(len(buf)); len(w.blk) > 0 && len(w.blk)+n > w.b.cfg.BlockSize {
		w.flushBlock()
	}
	w.blk = appendRecord(w.blk, buf)
}

// writeList appends the entries of one sort-buffer list as whole blocks and
// records the slice length in the index.
func (w *smWriter) writeList(list int) {
	begin := w.off
	sb := w.sb
	for e := sb.heads[list]; e >= 0; e = sb.ents[e].next {
		w.addRecord(sb.payload(sb.ents[e]))
	}
	w.flushBlock()
	w.ib.length(w.off - begin)
}

// spill writes the sort buffer as one region and empties it.
func (w *smWriter) spill() error {
	if w.err != nil {
		return w.err
	}
	if len(w.sb.ents) == 0 {
		return nil
	}
	if err := w.gone.err(); err != nil {
		return err
	}
	if w.bcast {
		w.ib.begin(regionBroadcast, w.off)
		w.writeList(w.subs)
	} else {
		w.ib.begin(regionNormal, w.off)
		for s := 0; s < w.subs; s++ {
			w.writeList(s)
		}
	}
	w.b.log.Debug("shuffle: spilled region", "partition", w.id.String(), "region", w.ib.regions-1,
		"broadcast", w.bcast, "buffers", len(w.sb.ents), "fileOffset", w.off)
	w.sb.reset(w.subs+1, &w.b.chunks)
	return w.err
}

// add puts buf on list (a subpartition, or subs for broadcast), spilling
// first if the section kind changes or the buffer would overflow.
func (w *smWriter) add(list int, buf []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(buf) > maxBufferLen {
		return fmt.Errorf("shuffle: partition %s: buffer of %d bytes exceeds the %d byte limit", w.id, len(buf), maxBufferLen)
	}
	bcast := list == w.subs
	if bcast != w.bcast || w.sb.used+len(buf)+sortEntSize > w.b.cfg.SortBufferBytes {
		if err := w.spill(); err != nil {
			return err
		}
		w.bcast = bcast
	}
	w.raw += int64(len(buf))
	w.buffers++
	if len(buf)+sortEntSize > w.b.cfg.SortBufferBytes {
		// Larger than the whole sort buffer: a region of its own.
		if bcast {
			begin := w.off
			w.ib.begin(regionBroadcast, begin)
			w.addRecord(buf)
			w.flushBlock()
			w.ib.length(w.off - begin)
		} else {
			w.ib.begin(regionNormal, w.off)
			for s := 0; s < w.subs; s++ {
				begin := w.off
				if s == list {
					w.addRecord(buf)
					w.flushBlock()
				}
				w.ib.length(w.off - begin)
			}
		}
		return w.err
	}
	w.sb.add(list, buf, &w.b.chunks)
	return nil
}

func (w *smWriter) write(sub int, buf []byte) error { return w.add(sub, buf) }

func (w *smWriter) writeBroadcast(buf []byte) error {
	if w.subs == 1 {
		return w.add(0, buf)
	}
	if len(buf) > w.b.cfg.BroadcastInlineMax {
		return w.add(w.subs, buf)
	}
	for s := 0; s < w.subs; s++ {
		if err := w.add(s, buf); err != nil {
			return err
		}
	}
	// Count the broadcast once.
	w.raw -= int64(len(buf)) * int64(w.subs-1)
	w.buffers -= int64(w.subs - 1)
	return nil
}

func (w *smWriter) releaseBuffers() {
	if w.sb != nil {
		w.sb.reset(0, &w.b.chunks)
		w.b.sortBufs.Put(w.sb)
		w.sb = nil
	}
	if w.out != nil && cap(w.out) <= 2*(w.b.cfg.WriteBufferSize+w.b.cfg.BlockSize) {
		out := w.out[:0]
		w.b.outBufs.Put(&out)
	}
	w.blk, w.out = nil, nil
}

func (w *smWriter) finish(ctx context.Context) error {
	if err := w.spill(); err != nil {
		return err
	}
	if w.flushOut(); w.err != nil {
		return w.err
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		w.err = ioErr("close", w.id, w.tmpData, err)
		return w.err
	}
	w.releaseBuffers()
	idx := w.ib.encode(w.subs, w.off, w.raw, w.buffers)
	w.ib = indexBuilder{}
	w.tmpIndex = w.b.tmpName(w.indexPath)
	fi, err := w.b.create(w.tmpIndex)
	if err != nil {
		w.err = ioErr("create", w.id, w.tmpIndex, err)
		return w.err
	}
	if _, err := fi.Write(idx); err != nil {
		_ = fi.Close()
		w.err = ioErr("write", w.id, w.tmpIndex, err)
		return w.err
	}
	if err := fi.Close(); err != nil {
		w.err = ioErr("close", w.id, w.tmpIndex, err)
		return w.err
	}
	w.st = Stat{
		Bytes: w.off + int64(len(idx)), RawBytes: w.raw, Buffers: w.buffers,
		Subpartitions: w.subs, Files: 2,
	}
	return nil
}

func (w *smWriter) publish() (committedPart, error) {
	if err := os.Rename(w.tmpData, w.dataPath); err != nil {
		return nil, ioErr("rename", w.id, w.tmpData, err)
	}
	// The index appears last: a partition whose index exists is complete.
	if err := os.Rename(w.tmpIndex, w.indexPath); err != nil {
		_ = os.Remove(w.dataPath)
		return nil, ioErr("rename", w.id, w.tmpIndex, err)
	}
	return &smPart{b: w.b, id: w.id, dataPath: w.dataPath, indexPath: w.indexPath, st: w.st}, nil
}

func (w *smWriter) abort() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	w.releaseBuffers()
	if err := w.b.removeFiles(w.tmpData, w.tmpIndex); err != nil {
		w.b.log.Warn("shuffle: temporary files not removed", "partition", w.id.String(), "err", err)
	}
}

// smPart is a committed sort-merge partition. Its readers share one open
// data file (positional reads) and one decoded index, loaded from disk when
// the first reader opens and dropped when the last one closes.
type smPart struct {
	b                   *fileBackend
	id                  PartitionID
	dataPath, indexPath string
	st                  Stat
	gone                doneFlag

	mu   sync.Mutex
	refs int
	f    *os.File
	idx  *fileIndex
}

func (p *smPart) corrupt(path string, off int64, err error) error {
	return fmt.Errorf("%w: partition %s: %s at offset %d: %v", ErrCorrupt, p.id, path, off, err)
}

// load opens the data file and reads the index. Missing files mean the
// partition is lost (ErrNotExist); invalid ones are ErrCorrupt.
func (p *smPart) load() error {
	f, err := os.Open(p.dataPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: partition %s: data file %s is missing", ErrNotExist, p.id, p.dataPath)
		}
		return ioErr("open", p.id, p.dataPath, err)
	}
	ib, err := os.ReadFile(p.indexPath)
	if err != nil {
		_ = f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: partition %s: index file %s is missing", ErrNotExist, p.id, p.indexPath)
		}
		return ioErr("read", p.id, p.indexPath, err)
	}
	idx, err := decodeIndex(ib)
	if err != nil {
		_ = f.Close()
		return p.corrupt(p.indexPath, 0, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return ioErr("stat", p.id, p.dataPath, err)
	}
	if fi.Size() != idx.dataSize {
		_ = f.Close()
		return p.corrupt(p.dataPath, fi.Size(), fmt.Errorf("data file is %d bytes, index says %d (truncated?)", fi.Size(), idx.dataSize))
	}
	var h [fileHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		_ = f.Close()
		return p.corrupt(p.dataPath, 0, err)
	}
	if err := checkFileHeader(h[:], 0); err != nil {
		_ = f.Close()
		return p.corrupt(p.dataPath, 0, err)
	}
	p.f, p.idx = f, idx
	return nil
}

func (p *smPart) open(_ context.Context, from, to int) (Reader, error) {
	if err := p.gone.err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refs == 0 {
		if err := p.load(); err != nil {
			return nil, err
		}
	}
	if subs := p.idx.subs; to > subs {
		if p.refs == 0 {
			p.unloadLocked()
		}
		return nil, fmt.Errorf("shuffle: partition %s: subpartitions [%d,%d) out of range (%d subpartitions)", p.id, from, to, subs)
	}
	p.refs++
	src := &smSource{p: p, f: p.f, idx: p.idx, sub: from, to: to}
	if p.b.wrapReader != nil {
		src.f = p.b.wrapReader(p.f)
	}
	return p.b.newFileReader(p.id, &p.gone, src), nil
}

func (p *smPart) unloadLocked() {
	_ = p.f.Close()
	p.f, p.idx = nil, nil
}

func (p *smPart) unref() {
	p.mu.Lock()
	p.refs--
	if p.refs == 0 {
		p.unloadLocked()
	}
	p.mu.Unlock()
}

func (p *smPart) stat() Stat { return p.st }

func (p *smPart) remove(err error) error {
	p.gone.set(err)
	return p.b.removeFiles(p.dataPath, p.indexPath)
}

// smSource yields, for each subpartition of [sub,to) in order, its slice of
// each region in order (file-offset order within a subpartition).
type smSource struct {
	p       *smPart
	f       io.ReaderAt
	idx     *fileIndex
	sub, to int
	region  int
	done    bool
}

func (s *smSource) next() (segment, bool, error) {
	for s.sub < s.to {
		for s.region < len(s.idx.regions) {
			r := &s.idx.regions[s.region]
			s.region++
			if off, end := r.span(s.sub); end > off {
				return segment{f: s.f, path: s.p.dataPath, off: off, end: end}, true, nil
			}
		}
		s.sub, s.region = s.sub+1, 0
	}
	return segment{}, false, nil
}

func (s *smSource) close() {
	if !s.done {
		s.done = true
		s.p.unref()
	}
}
