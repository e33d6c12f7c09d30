package shuffle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/klauspost/compress/s2"
)

// lz4Converter decodes an LZ4 block with klauspost/compress: it converts
// the block to S2 and decodes that.
type lz4Converter struct{ c s2.LZ4Converter }

func (l *lz4Converter) toRaw(enc []byte, n int) ([]byte, error) {
	dst := binary.AppendUvarint(make([]byte, 0, s2.MaxEncodedLen(n)+len(enc)+64), uint64(n))
	out, un, err := l.c.ConvertBlock(dst, enc)
	if err != nil {
		return nil, err
	}
	if un != n {
		return nil, fmt.Errorf("converter saw %d bytes, want %d", un, n)
	}
	return s2.Decode(nil, out)
}

func newTestLocal(t *testing.T, cfg LocalConfig) *Local {
	t.Helper()
	cfg.Dir = filepath.Join(t.TempDir(), "svc")
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// fullDisk fails writes with ENOSPC once budget bytes were written to files
// whose name contains match.
type fullDisk struct {
	mu     sync.Mutex
	budget int
	match  string
}

type limitedFile struct {
	*os.File
	d    *fullDisk
	name string
	on   bool
}

func (f *limitedFile) Write(p []byte) (int, error) {
	if !f.on {
		return f.File.Write(p)
	}
	f.d.mu.Lock()
	n := min(len(p), f.d.budget)
	f.d.budget -= n
	f.d.mu.Unlock()
	m, err := f.File.Write(p[:n])
	if err == nil && m < len(p) {
		err = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return m, err
}

func (d *fullDisk) create(name string) (writeFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &limitedFile{File: f, d: d, name: name, on: strings.Contains(name, d.match)}, nil
}

func TestLocalDiskFull(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		match  string
		budget int
		layout Layout
		bufs   int
	}{
		{"spill", ".data", 100 << 10, LayoutSortMerge, 2000}, // fails while spilling a region
		{"commit", ".data", 3 << 10, LayoutSortMerge, 20},    // fails flushing at Commit
		{"index", ".index", 10, LayoutSortMerge, 20},         // fails writing the index
		{"baseline", ".data", 50 << 10, LayoutFilePerSubpartition, 2000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLocal(t, LocalConfig{Compression: CompressionNone, SortBufferBytes: 64 << 10, WriteBufferSize: 4 << 10, Layout: c.layout})
			d := &fullDisk{budget: c.budget, match: c.match}
			l.fb.createFile = d.create
			id := PartitionID{Job: "j", Result: "r"}
			w, err := l.CreateWriter(ctx, id, WriterOptions{Mode: Blocking, Subpartitions: 4})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < c.bufs && err == nil; i++ {
				err = w.Write(ctx, i%4, bytes.Repeat([]byte{byte(i)}, 1000))
			}
			if err == nil {
				err = w.Commit(ctx)
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), l.Dir()) {
				t.Fatalf("got %v, want a disk-full error naming the file", err)
			}
			if err2 := w.Write(ctx, 0, []byte("x")); err2 == nil {
				t.Error("Write after a disk error succeeded")
			}
			w.Abort(err)
			var left []string
			_ = filepath.WalkDir(l.Dir(), func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() {
					left = append(left, p)
				}
				return nil
			})
			if len(left) != 0 {
				t.Errorf("files left after Abort: %v", left)
			}
			if _, err := l.OpenReader(ctx, id, 0, 1); !errors.Is(err, ErrNotExist) {
				t.Errorf("OpenReader of the failed partition: %v", err)
			}
		})
	}
}

// countingReader records the reads issued against a data file.
type countingReader struct {
	r     io.ReaderAt
	mu    sync.Mutex
	reads [][2]int64 // offset, length
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, int64(len(p))})
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// TestLocalReadPattern checks that a reader reads each region slice of its
// subpartition with one large sequential read when it fits in ReadSize, and
// ReadSize chunks otherwise, at increasing offsets.
func TestLocalReadPattern(t *testing.T) {
	ctx := context.Background()
	for _, readSize := range []int{512 << 10, 8 << 10} {
		l := newTestLocal(t, LocalConfig{Compression: CompressionNone, SortBufferBytes: 512 << 10, BlockSize: 4 << 10, ReadSize: readSize})
		var cr *countingReader
		l.fb.wrapReader = func(r io.ReaderAt) io.ReaderAt {
			cr = &countingReader{r: r}
			return cr
		}
		id := PartitionID{Job: "j", Result: "r"}
		w, err := l.CreateWriter(ctx, id, WriterOptions{Mode: Blocking, Subpartitions: 20})
		if err != nil {
			t.Fatal(err)
		}
		buf := bytes.Repeat([]byte("z"), 1000)
		for i := range 2000 { // ~2 MB: 4 regions
			if err := w.Write(ctx, i%20, buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := l.OpenReader(ctx, id, 5, 6)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			if _, err := r.Next(ctx); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
		if n != 100 {
			t.Fatalf("read %d buffers, want 100", n)
		}
		idx, _ := os.ReadFile(filepath.Join(l.Dir(), "j", "r", "0.0.index"))
		fi, err := decodeIndex(idx)
		if err != nil {
			t.Fatal(err)
		}
		var want [][2]int64
		for _, reg := range fi.regions {
			off, end := reg.span(5)
			for ; off < end; off += int64(readSize) {
				want = append(want, [2]int64{off, min(int64(readSize), end-off)})
			}
		}
		if len(fi.regions) < 3 {
			t.Errorf("only %d regions", len(fi.regions))
		}
		if len(cr.reads) != len(want) {
			t.Fatalf("ReadSize %d: %d reads %v, want %v", readSize, len(cr.reads), cr.reads, want)
		}
		for i := range want {
			// A read may start earlier than the slice position only by
			// what it carries over; here blocks align, so it is exact.
			if cr.reads[i][0] < want[i][0]-int64(4<<10) || cr.reads[i][0]+cr.reads[i][1] > want[i][0]+want[i][1]+int64(4<<10) {
				t.Errorf("read %d = %v, want about %v", i, cr.reads[i], want[i])
			}
			if i > 0 && cr.reads[i][0] <= cr.reads[i-1][0] {
				t.Errorf("read %d at %d does not move forward", i, cr.reads[i][0])
			}
		}
	}
}

func TestEscapeName(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"", ".", "..", "a/b", "a%2Fb", "job-1_x.y", ".hidden", "ü", "a b"} {
		e := escapeName(s)
		if e == "" || e == "." || e == ".." || strings.ContainsAny(e, "/\\\x00") {
			t.Errorf("escapeName(%q) = %q is unsafe", s, e)
		}
		if prev, ok := seen[e]; ok {
			t.Errorf("escapeName(%q) = escapeName(%q) = %q", s, prev, e)
		}
		seen[e] = s
	}
	if escapeName("job-1_x.y") != "job-1_x.y" {
		t.Error("safe names must stay readable")
	}
}

// testInputs are codec inputs covering the LZ4 end rules, overlapping
// matches, long literal/match lengths and incompressible data.
func testInputs() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 70<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text []byte
	for i := 0; len(text) < 200<<10; i++ {
		text = append(text, []byte("row "+string(rune('a'+i%26))+" value=12345 name=dagflow shuffle ")...)
		text = append(text, random[i%1000:i%1000+i%17]...)
	}
	ins := [][]byte{
		nil, {1}, []byte("abcdabcdabcd"), []byte("abcdabcdabcda"), []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		bytes.Repeat([]byte{0}, 100<<10), bytes.Repeat([]byte("ab"), 5000), bytes.Repeat([]byte("abcdefg"), 3000),
		random, text, append(bytes.Clone(random[:300]), random[:300]...),
	}
	for n := 0; n < 40; n++ {
		ins = append(ins, text[:n])
	}
	return ins
}

func TestCodecRoundTrip(t *testing.T) {
	cs := &codecs{}
	defer cs.close()
	for _, codec := range []byte{codecNone, codecS2, codecLZ4, codecZstd} {
		for i, in := range testInputs() {
			blk, err := cs.appendBlock([]byte("prefix"), codec, in)
			if err != nil {
				t.Fatal(err)
			}
			raw, n, err := cs.decodeBlock(nil, blk[6:])
			if err != nil {
				t.Fatalf("codec %d input %d: %v", codec, i, err)
			}
			if n != len(blk)-6 || !bytes.Equal(raw, in) {
				t.Fatalf("codec %d input %d (%d bytes): round trip differs", codec, i, len(in))
			}
			if len(in) > 1000 && bytes.Equal(in, testInputs()[9]) && codec != codecNone && blk[6] == codecNone {
				t.Errorf("codec %d did not compress text", codec)
			}
		}
	}
}

// TestLZ4MatchesReference checks the LZ4 encoder against an independent
// decoder: klauspost/compress's LZ4-to-S2 block converter.
func TestLZ4MatchesReference(t *testing.T) {
	var tab lz4Table
	for i, in := range testInputs() {
		enc := lz4Compress(nil, in, &tab)
		if len(enc) > len(in) {
			continue // incompressible: the block is stored raw, never decoded as LZ4
		}
		var conv lz4Converter
		got, err := conv.toRaw(enc, len(in))
		if err != nil {
			t.Fatalf("input %d (%d bytes): reference rejects our block: %v", i, len(in), err)
		}
		if !bytes.Equal(got, in) {
			t.Fatalf("input %d: reference decodes different data", i)
		}
		dec := make([]byte, len(in))
		if err := lz4Decompress(dec, enc); err != nil || !bytes.Equal(dec, in) {
			t.Fatalf("input %d: own decoder: %v", i, err)
		}
		if len(in) > 0 {
			if err := lz4Decompress(make([]byte, len(in)-1), enc); err == nil {
				t.Errorf("input %d: decoding into a short buffer succeeded", i)
			}
			if err := lz4Decompress(make([]byte, len(in)+1), enc); err == nil {
				t.Errorf("input %d: decoding into a long buffer succeeded", i)
			}
		}
	}
}

func TestIndexRoundTrip(t *testing.T) {
	var ib indexBuilder
	ib.begin(regionNormal, fileHeaderSize)
	for _, l := range []int64{10, 0, 30} {
		ib.length(l)
	}
	ib.begin(regionBroadcast, fileHeaderSize+40)
	ib.length(7)
	b := ib.encode(3, fileHeaderSize+47, 100, 5)
	idx, err := decodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if idx.subs != 3 || idx.raw != 100 || idx.buffers != 5 || len(idx.regions) != 2 {
		t.Fatalf("decoded %+v", idx)
	}
	for s, want := range [][2]int64{{8, 18}, {18, 18}, {18, 48}} {
		if o, e := idx.regions[0].span(s); o != want[0] || e != want[1] {
			t.Errorf("span(%d) = %d,%d want %v", s, o, e, want)
		}
		if o, e := idx.regions[1].span(s); o != 48 || e != 55 {
			t.Errorf("broadcast span(%d) = %d,%d", s, o, e)
		}
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		if _, err := decodeIndex(bad); err == nil {
			t.Errorf("flipped index byte %d accepted", i)
		}
	}
}

func FuzzBlockDecode(f *testing.F) {
	cs := &codecs{}
	f.Cleanup(cs.close)
	for _, codec := range []byte{codecNone, codecS2, codecLZ4, codecZstd} {
		for _, in := range [][]byte{nil, []byte("hello hello hello hello"), bytes.Repeat([]byte("xyz"), 300)} {
			raw := appendRecord(appendRecord(nil, in), []byte("second"))
			blk, _ := cs.appendBlock(nil, codec, raw)
			f.Add(blk, codec)
			f.Add(blk[:len(blk)/2], codec)
			f.Add(blk[blockHeaderSize:], codec)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, codec byte) {
		// Whole blocks: validation, decompression and record parsing.
		if raw, n, err := cs.decodeBlock(nil, data); err == nil {
			if n > len(data) {
				t.Fatalf("block length %d > input %d", n, len(data))
			}
			for pos := 0; pos < len(raw); {
				var rerr error
				if _, pos, rerr = nextRecord(raw, pos); rerr != nil {
					break
				}
			}
		}
		// The decompressors themselves, without the checksum in front.
		for _, id := range []byte{codecS2, codecLZ4, codecZstd} {
			for _, rawLen := range []int{0, len(data), 4 * len(data), 1000} {
				_, _ = cs.decompress(id, nil, data, rawLen)
			}
		}
		// Round trip.
		id := codec % 4
		blk, err := cs.appendBlock(nil, id, data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := cs.decodeBlock(nil, blk)
		if err != nil || !bytes.Equal(raw, data) {
			t.Fatalf("codec %d round trip: %v", id, err)
		}
	})
}

func FuzzIndexDecode(f *testing.F) {
	var ib indexBuilder
	ib.begin(regionNormal, fileHeaderSize)
	ib.length(5)
	ib.length(0)
	ib.begin(regionBroadcast, fileHeaderSize+5)
	ib.length(9)
	f.Add(ib.encode(2, fileHeaderSize+14, 3, 1))
	f.Add(new(indexBuilder).encode(4, fileHeaderSize, 0, 0))
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := decodeIndex(data)
		if err != nil {
			return
		}
		pos := int64(fileHeaderSize)
		for _, r := range idx.regions {
			for s := range idx.subs {
				o, e := r.span(s)
				if o < pos || e < o || e > idx.dataSize {
					t.Fatalf("bad span %d,%d", o, e)
				}
			}
			_, e := r.span(idx.subs - 1)
			pos = e
		}
	})
}

// BenchmarkCodecs measures block compression and decompression alone, on
// 64 KiB blocks of row-like text.
//
//	go test ./shuffle -run '^$' -bench Codecs
func BenchmarkCodecs(b *testing.B) {
	var text []byte
	rng := rand.New(rand.NewPCG(3, 4))
	for len(text) < 64<<10 {
		text = fmt.Appendf(text, "id=%d,city=%s,amount=%.2f,flag=%v\n", rng.Int64N(1e9),
			[]string{"Berlin", "Lisbon", "Osaka", "Lagos"}[rng.IntN(4)], rng.Float64()*1e4, rng.IntN(2) == 0)
	}
	text = text[:64<<10]
	cs := &codecs{}
	defer cs.close()
	for _, c := range []struct {
		name string
		id   byte
	}{{"s2", codecS2}, {"lz4", codecLZ4}, {"zstd", codecZstd}} {
		blk, _ := cs.appendBlock(nil, c.id, text)
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			out := make([]byte, 0, 2*len(text))
			for b.Loop() {
				out, _ = cs.appendBlock(out[:0], c.id, text)
			}
			b.ReportMetric(float64(len(out))/float64(len(text)), "ratio")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			dst := make([]byte, len(text))
			for b.Loop() {
				if _, _, err := cs.decodeBlock(dst, blk); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
