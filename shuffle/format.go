package shuffle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// On-disk format constants; README.md describes the format.
const (
	dataMagic       = "DFSD" // data file
	indexMagic      = "DFSI" // index file
	formatVersion   = 1
	fileHeaderSize  = 8  // magic(4) version(2) flags(2)
	blockHeaderSize = 13 // codec(1) storedLen(4) rawLen(4) crc32c(4)
	indexHeaderSize = 40
	indexTrailer    = 4 // crc32c
	regionHeader    = 12
	maxBlockRaw     = 1 << 30 // largest raw block (and buffer) accepted
	maxSubparts     = 1 << 24
	maxBufferLen    = maxBlockRaw - binary.MaxVarintLen32

	regionNormal    = 0
	regionBroadcast = 1

	flagFilePerSubpartition = 1 // data file header flag of the baseline layout
)

func crcTable() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// appendFileHeader appends a data file header.
func appendFileHeader(dst []byte, flags uint16) []byte {
	dst = append(dst, dataMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, formatVersion)
	return binary.LittleEndian.AppendUint16(dst, flags)
}

func checkFileHeader(b []byte, flags uint16) error {
	if len(b) < fileHeaderSize {
		return errors.New("file shorter than its header")
	}
	if string(b[:4]) != dataMagic {
		return fmt.Errorf("bad magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != formatVersion {
		return fmt.Errorf("unsupported format version %d", v)
	}
	if f := binary.LittleEndian.Uint16(b[6:]); f != flags {
		return fmt.Errorf("header flags %#x, want %#x", f, flags)
	}
	return nil
}

// appendBlock appends one block holding raw, compressed with codec (stored
// uncompressed instead if that is not smaller).
func (cs *codecs) appendBlock(dst []byte, codec byte, raw []byte) ([]byte, error) {
	if len(raw) > maxBlockRaw {
		return nil, fmt.Errorf("block of %d bytes exceeds the %d byte limit", len(raw), maxBlockRaw)
	}
	start := len(dst)
	dst = grow(dst, blockHeaderSize)
	p := len(dst)
	var err error
	if codec != codecNone {
		if dst, err = cs.compress(codec, dst, raw); err != nil {
			return nil, err
		}
		if len(dst)-p >= len(raw) {
			codec, dst = codecNone, dst[:p]
		}
	}
	if codec == codecNone {
		dst = append(dst, raw...)
	}
	h := dst[start:p]
	h[0] = codec
	binary.LittleEndian.PutUint32(h[1:], uint32(len(dst)-p))
	binary.LittleEndian.PutUint32(h[5:], uint32(len(raw)))
	tab := crcTable()
	crc := crc32.Update(0, tab, h[:9])
	crc = crc32.Update(crc, tab, dst[p:])
	binary.LittleEndian.PutUint32(h[9:], crc)
	return dst, nil
}

// blockLen returns the encoded length of the block starting at b, from its
// header (b must hold the header).
func blockLen(b []byte) int {
	return blockHeaderSize + int(binary.LittleEndian.Uint32(b[1:]))
}

// decodeBlock validates and decodes the block at the start of b into dst
// (reusing its capacity). It returns the raw bytes, which alias b for
// uncompressed blocks, and the block's encoded length. Errors describe the
// defect; callers wrap them with ErrCorrupt, the file and the offset.
func (cs *codecs) decodeBlock(dst, b []byte) (raw []byte, n int, err error) {
	if len(b) < blockHeaderSize {
		return nil, 0, errors.New("truncated block header")
	}
	codec := b[0]
	stored := binary.LittleEndian.Uint32(b[1:])
	rawLen := binary.LittleEndian.Uint32(b[5:])
	if uint64(stored) > uint64(len(b)-blockHeaderSize) {
		return nil, 0, fmt.Errorf("block of %d bytes is truncated to %d", stored, len(b)-blockHeaderSize)
	}
	if rawLen > maxBlockRaw {
		return nil, 0, fmt.Errorf("block raw length %d exceeds the limit", rawLen)
	}
	n = blockHeaderSize + int(stored)
	payload := b[blockHeaderSize:n]
	tab := crcTable()
	crc := crc32.Update(0, tab, b[:9])
	crc = crc32.Update(crc, tab, payload)
	if want := binary.LittleEndian.Uint32(b[9:]); crc != want {
		return nil, 0, fmt.Errorf("block checksum mismatch (crc32c %08x, stored %08x)", crc, want)
	}
	if codec == codecNone {
		if stored != rawLen {
			return nil, 0, fmt.Errorf("stored block length %d differs from raw length %d", stored, rawLen)
		}
		return payload, n, nil
	}
	raw, err = cs.decompress(codec, dst, payload, int(rawLen))
	if err != nil {
		return nil, 0, err
	}
	return raw, n, nil
}

// appendRecord frames one buffer inside a block: uvarint length + bytes.
func appendRecord(dst, buf []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(buf)))
	return append(dst, buf...)
}

func recordLen(n int) int {
	l := 1
	for v := uint64(n); v >= 0x80; v >>= 7 {
		l++
	}
	return l + n
}

// nextRecord returns the record at raw[pos:] and the position after it.
func nextRecord(raw []byte, pos int) ([]byte, int, error) {
	v, k := binary.Uvarint(raw[pos:])
	if k <= 0 {
		return nil, 0, fmt.Errorf("bad record length at block byte %d", pos)
	}
	pos += k
	if v > uint64(len(raw)-pos) {
		return nil, 0, fmt.Errorf("record of %d bytes overruns its block at byte %d", v, pos)
	}
	end := pos + int(v)
	return raw[pos:end:end], end, nil
}

// fileIndex is a decoded index file.
type fileIndex struct {
	subs     int
	dataSize int64
	raw      int64
	buffers  int64
	regions  []indexRegion
}

// indexRegion locates one region. For a normal region offs has subs+1
// entries: subpartition s occupies [offs[s], offs[s+1]). A broadcast region
// has offs = {start, end}, read by every subpartition.
type indexRegion struct {
	broadcast bool
	offs      []int64
}

// span returns the byte range of subpartition s in the region.
func (r *indexRegion) span(s int) (int64, int64) {
	if r.broadcast {
		return r.offs[0], r.offs[1]
	}
	return r.offs[s], r.offs[s+1]
}

// indexBuilder accumulates region records while a partition is written.
type indexBuilder struct {
	body    []byte
	regions int
}

// begin starts a region at file offset start; the caller then appends one
// length per subpartition (normal) or a single length (broadcast).
func (ib *indexBuilder) begin(kind byte, start int64) {
	ib.body = append(ib.body, kind, 0, 0, 0)
	ib.body = binary.LittleEndian.AppendUint64(ib.body, uint64(start))
	ib.regions++
}

func (ib *indexBuilder) length(n int64) {
	ib.body = binary.LittleEndian.AppendUint64(ib.body, uint64(n))
}

// encode returns the index file contents.
func (ib *indexBuilder) encode(subs int, dataSize, raw, buffers int64) []byte {
	b := make([]byte, 0, indexHeaderSize+len(ib.body)+indexTrailer)
	b = append(b, indexMagic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(subs))
	b = binary.LittleEndian.AppendUint32(b, uint32(ib.regions))
	b = binary.LittleEndian.AppendUint64(b, uint64(dataSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(raw))
	b = binary.LittleEndian.AppendUint64(b, uint64(buffers))
	b = append(b, ib.body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable()))
}

// decodeIndex parses and fully validates an index file: checksum, header,
// and that the regions tile the data file exactly, in order, from the end of
// its header to dataSize. It never panics and allocates at most in
// proportion to len(b).
func decodeIndex(b []byte) (*fileIndex, error) {
	if len(b) < indexHeaderSize+indexTrailer {
		return nil, fmt.Errorf("index of %d bytes is shorter than its header", len(b))
	}
	if string(b[:4]) != indexMagic {
		return nil, fmt.Errorf("bad index magic %q", b[:4])
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != formatVersion {
		return nil, fmt.Errorf("unsupported index version %d", v)
	}
	body := b[:len(b)-indexTrailer]
	if crc, want := crc32.Checksum(body, crcTable()), binary.LittleEndian.Uint32(b[len(body):]); crc != want {
		return nil, fmt.Errorf("index checksum mismatch (crc32c %08x, stored %08x)", crc, want)
	}
	subs := binary.LittleEndian.Uint32(b[8:])
	nreg := binary.LittleEndian.Uint32(b[12:])
	dataSize := binary.LittleEndian.Uint64(b[16:])
	idx := &fileIndex{
		subs:     int(subs),
		dataSize: int64(dataSize),
		raw:      int64(binary.LittleEndian.Uint64(b[24:])),
		buffers:  int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if subs == 0 || subs > maxSubparts {
		return nil, fmt.Errorf("invalid subpartition count %d", subs)
	}
	if dataSize < fileHeaderSize || dataSize > 1<<62 || idx.raw < 0 || idx.buffers < 0 {
		return nil, errors.New("invalid sizes in index header")
	}
	recs := body[indexHeaderSize:]
	if uint64(nreg)*(regionHeader+8) > uint64(len(recs)) {
		return nil, fmt.Errorf("index claims %d regions in %d bytes", nreg, len(recs))
	}
	idx.regions = make([]indexRegion, 0, nreg)
	// Every stored length becomes one offset, plus one start per region.
	offs := make([]int64, 0, len(recs)/8+int(nreg))
	pos := uint64(fileHeaderSize)
	for r := uint32(0); r < nreg; r++ {
		if len(recs) < regionHeader {
			return nil, fmt.Errorf("region %d: truncated", r)
		}
		kind := recs[0]
		if kind != regionNormal && kind != regionBroadcast || recs[1]|recs[2]|recs[3] != 0 {
			return nil, fmt.Errorf("region %d: bad kind %d", r, kind)
		}
		if start := binary.LittleEndian.Uint64(recs[4:]); start != pos {
			return nil, fmt.Errorf("region %d starts at %d, expected %d", r, start, pos)
		}
		recs = recs[regionHeader:]
		n := uint64(subs)
		if kind == regionBroadcast {
			n = 1
		}
		if uint64(len(recs)) < 8*n {
			return nil, fmt.Errorf("region %d: truncated lengths", r)
		}
		first := len(offs)
		offs = append(offs, int64(pos))
		for i := uint64(0); i < n; i++ {
			l := binary.LittleEndian.Uint64(recs[8*i:])
			if l > dataSize-pos {
				return nil, fmt.Errorf("region %d: slice %d of %d bytes passes the data size %d", r, i, l, dataSize)
			}
			pos += l
			offs = append(offs, int64(pos))
		}
		recs = recs[8*n:]
		idx.regions = append(idx.regions, indexRegion{broadcast: kind == regionBroadcast, offs: offs[first:len(offs):len(offs)]})
	}
	if len(recs) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after %d regions", len(recs), nreg)
	}
	if pos != dataSize {
		return nil, fmt.Errorf("regions end at %d, data size is %d", pos, dataSize)
	}
	return idx, nil
}
