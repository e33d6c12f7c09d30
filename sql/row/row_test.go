package row

import (
	"bytes"
	"testing"

	"github.com/dagflow/dagflow/sql/types"
)

var testStorages = []types.Storage{types.StoreInt, types.StoreBytes, types.StoreFloat, types.StoreBytes, types.StoreInt}

func TestBuildAndRead(t *testing.T) {
	b := NewBuilder(5)
	l := b.Layout()
	for round := range 3 {
		b.SetInt(0, -42-int64(round))
		b.SetString(1, "héllo")
		b.SetFloat(2, 2.5)
		// field 3 stays NULL
		b.SetInt(4, 7)
		r := b.Build()
		if r.Int(l.Offset(0)) != -42-int64(round) || string(r.Bytes(l.Offset(1))) != "héllo" ||
			r.Float(l.Offset(2)) != 2.5 || !r.IsNull(3) || r.IsNull(0) || r.Int(l.Offset(4)) != 7 {
			t.Fatalf("round %d: bad row %v", round, r)
		}
		if len(r) != l.FixedSize()+len("héllo") {
			t.Errorf("row of %d bytes, want %d", len(r), l.FixedSize()+len("héllo"))
		}
	}
	// Build resets: a fresh row is all NULL.
	r := b.Build()
	for i := range 5 {
		if !r.IsNull(i) {
			t.Errorf("field %d of an empty row is not NULL", i)
		}
	}
}

func TestCoderRoundTrip(t *testing.T) {
	c := NewCoder(testStorages)
	b := NewBuilder(5)
	var rows []Row
	for i := range 10 {
		b.SetInt(0, int64(i))
		b.SetString(1, string(bytes.Repeat([]byte("x"), i)))
		if i%2 == 0 {
			b.SetString(3, "even")
		}
		rows = append(rows, b.Build())
	}
	var buf []byte
	for _, r := range rows {
		buf = c.Append(buf, r)
	}
	for _, want := range rows {
		got, n, err := c.Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("decoded %v, want %v", got, want)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Errorf("%d bytes left", len(buf))
	}
}

func TestCoderRejectsCorruptRows(t *testing.T) {
	c := NewCoder(testStorages)
	b := NewBuilder(5)
	b.SetString(1, "abc")
	good := b.Build()
	short := c.Append(nil, good[:10])
	bad := append(Row(nil), good...)
	bad[Layout{N: 5}.Offset(1)+4] = 0xff // length far past the end
	for name, in := range map[string][]byte{"short": short, "slot": c.Append(nil, bad), "length": {0xff}} {
		if _, _, err := c.Decode(in); err == nil {
			t.Errorf("%s: decoded a corrupt row", name)
		}
	}
}

func FuzzCoder(f *testing.F) {
	c := NewCoder(testStorages)
	b := NewBuilder(5)
	b.SetString(1, "abc")
	b.SetString(3, "de")
	f.Add(c.Append(nil, b.Build()))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, _, err := c.Decode(data)
		if err != nil {
			return
		}
		l := Layout{N: 5}
		for i, s := range testStorages {
			if r.IsNull(i) {
				continue
			}
			switch s {
			case types.StoreBytes:
				_ = r.Bytes(l.Offset(i))
			default:
				_ = r.Int(l.Offset(i))
			}
		}
	})
}

// TestArenaRows builds rows straight into arena chunks, across chunk
// ends and with rows larger than a chunk, and checks every row after all
// were built (none overwrote another).
func TestArenaRows(t *testing.T) {
	b := NewBuilder(3)
	l := b.Layout()
	var a Arena
	var rows []Row
	var want []string
	b.StartIn(&a)
	for i := range 2000 {
		s := string(bytes.Repeat([]byte{byte('a' + i%26)}, i%300))
		if i%500 == 7 {
			s = string(bytes.Repeat([]byte("z"), ArenaChunk+10)) // outgrows any chunk
		}
		if i%3 == 0 { // a row started over (a filtered record)
			b.SetString(1, "dropped")
			b.Reset()
		}
		b.SetInt(0, int64(i))
		b.SetString(1, s)
		rows = append(rows, b.FinishIn(&a))
		want = append(want, s)
		b.StartIn(&a)
	}
	for i, r := range rows {
		if r.Int(l.Offset(0)) != int64(i) || string(r.Bytes(l.Offset(1))) != want[i] || !r.IsNull(2) || len(r) != l.FixedSize()+len(want[i]) {
			t.Fatalf("row %d corrupt", i)
		}
	}
}

// TestArenaRowsAllocatePerChunk: building in an arena allocates once per
// chunk, not per row.
func TestArenaRowsAllocatePerChunk(t *testing.T) {
	b := NewBuilder(4)
	s := string(bytes.Repeat([]byte("x"), 100))
	var a Arena
	b.StartIn(&a)
	allocs := testing.AllocsPerRun(10_000, func() {
		b.SetInt(0, 1)
		b.SetString(1, s)
		b.SetString(3, s)
		b.FinishIn(&a)
		b.StartIn(&a)
	})
	// One 32 KiB chunk holds about 140 of these 233-byte rows.
	if allocs > 0.05 {
		t.Errorf("%.3f allocations per row, want about 1/140", allocs)
	}
}
