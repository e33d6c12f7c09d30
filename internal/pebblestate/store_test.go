package pebblestate

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
)

// kgKey returns a key of key group kg followed by rest.
func kgKey(kg int, rest string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(kg)), rest...)
}

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// op is one step of a KeyedStore table test.
type op struct {
	kind   string // set, del, delprefix
	key    string // raw bytes
	value  string
	wantOK bool // for set: whether it must succeed
}

// model is the reference semantics: a plain map.
type model map[string]string

func (m model) scan(prefix string) []string {
	var keys []string
	for k := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + m[k]
	}
	return out
}

func TestKeyedStoreSemantics(t *testing.T) {
	ff := "\xff\xff"
	many := func(prefix string, n int) []op {
		ops := make([]op, n)
		for i := range ops {
			ops[i] = op{kind: "set", key: fmt.Sprintf("%s%03d", prefix, i), value: "v", wantOK: true}
		}
		return ops
	}
	cat := func(parts ...[]op) []op {
		var all []op
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	boundary := []op{
		{kind: "set", key: "\x00\xfe", value: "below", wantOK: true},
		{kind: "set", key: "\x00\xfe\xff", value: "below2", wantOK: true},
		{kind: "set", key: "\x00\xff", value: "exact", wantOK: true},
		{kind: "set", key: "\x00\xff\x00", value: "in1", wantOK: true},
		{kind: "set", key: "\x00\xff\xff\xff", value: "in2", wantOK: true},
		{kind: "set", key: "\x01\x00", value: "above", wantOK: true},
		{kind: "set", key: "\x01\x00\x00", value: "above2", wantOK: true},
	}
	cases := []struct {
		name    string
		opts    Options
		ops     []op
		scans   []string // prefixes to check against the model
		absent  []string // keys Get must not find
		present []string // keys Get must find
	}{
		{
			name:  "set get overwrite delete",
			ops:   []op{{kind: "set", key: "\x00\x01a", value: "1", wantOK: true}, {kind: "set", key: "\x00\x01a", value: "2", wantOK: true}, {kind: "set", key: "\x00\x01b", value: "3", wantOK: true}, {kind: "del", key: "\x00\x01b"}},
			scans: []string{"\x00\x01", ""}, present: []string{"\x00\x01a"}, absent: []string{"\x00\x01b", "\x00\x01", "\x00\x01aa"},
		},
		{
			name:  "empty value is present",
			ops:   []op{{kind: "set", key: "\x00\x02", value: "", wantOK: true}},
			scans: []string{"\x00\x02"}, present: []string{"\x00\x02"},
		},
		{
			name:  "scan prefix 00ff boundaries",
			ops:   boundary,
			scans: []string{"\x00\xff", "\x00\xfe", "\x00", "\x01", "\x00\xff\xff", "\x00\xff\x00", ""},
		},
		{
			name:  "delete prefix 00ff keeps neighbours",
			ops:   append(append([]op{}, boundary...), op{kind: "delprefix", key: "\x00\xff"}),
			scans: []string{"\x00", "\x01", ""}, absent: []string{"\x00\xff", "\x00\xff\x00"}, present: []string{"\x00\xfe\xff", "\x01\x00"},
		},
		{
			name:  "delete prefix by range (many entries) keeps neighbours",
			ops:   cat(boundary, many("\x00\xff", 100), []op{{kind: "delprefix", key: "\x00\xff"}}),
			scans: []string{"\x00", "\x01", ""}, present: []string{"\x00\xfe\xff", "\x01\x00"},
		},
		{
			name:  "all-ff prefix scan and delete (no upper bound)",
			ops:   cat(many(ff, 50), many("\xff\xfe", 3), []op{{kind: "set", key: ff + "\xff\xff", value: "x", wantOK: true}, {kind: "delprefix", key: ff}}),
			scans: []string{ff, "\xff", ""}, absent: []string{ff + "\xff\xff", ff + "000"}, present: []string{"\xff\xfe000"},
		},
		{
			name:  "all-ff prefix scan",
			ops:   cat(many(ff, 5), many("\xff\xfe", 3)),
			scans: []string{ff, "\xff", "\xff\xfe", ""},
		},
		{
			name:  "delete prefix of nothing",
			ops:   []op{{kind: "set", key: "\x00\x05", value: "a", wantOK: true}, {kind: "delprefix", key: "\x00\x06"}},
			scans: []string{""},
		},
		{
			name: "key group range enforced",
			opts: Options{KeyGroupFrom: 10, KeyGroupTo: 20},
			ops: []op{
				{kind: "set", key: string(kgKey(9, "a")), value: "x"},
				{kind: "set", key: string(kgKey(10, "a")), value: "x", wantOK: true},
				{kind: "set", key: string(kgKey(19, "a")), value: "x", wantOK: true},
				{kind: "set", key: string(kgKey(20, "a")), value: "x"},
				{kind: "set", key: "\x00", value: "short"},
			},
			scans: []string{""},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, tc.opts)
			m := model{}
			for i, o := range tc.ops {
				var err error
				switch o.kind {
				case "set":
					err = s.Set([]byte(o.key), []byte(o.value))
					if (err == nil) != o.wantOK {
						t.Fatalf("op %d: Set(%x) error %v, want ok=%v", i, o.key, err, o.wantOK)
					}
					if err == nil {
						m[o.key] = o.value
					}
					continue
				case "del":
					err = s.Delete([]byte(o.key))
					delete(m, o.key)
				case "delprefix":
					err = s.DeletePrefix([]byte(o.key))
					for k := range m {
						if len(k) >= len(o.key) && k[:len(o.key)] == o.key {
							delete(m, k)
						}
					}
				}
				if err != nil {
					t.Fatalf("op %d (%s %x): %v", i, o.kind, o.key, err)
				}
			}
			for _, p := range tc.scans {
				var got []string
				if err := s.Scan([]byte(p), func(k, v []byte) bool {
					got = append(got, string(k)+"="+string(v))
					return true
				}); err != nil {
					t.Fatal(err)
				}
				if want := m.scan(p); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("Scan(%x) = %q, want %q", p, got, want)
				}
			}
			for _, k := range tc.absent {
				if v, ok, err := s.Get([]byte(k), nil); err != nil || ok {
					t.Errorf("Get(%x) = %q, %v, %v; want absent", k, v, ok, err)
				}
			}
			for _, k := range tc.present {
				v, ok, err := s.Get([]byte(k), []byte("dst:"))
				if err != nil || !ok || string(v) != "dst:"+m[k] {
					t.Errorf("Get(%x) = %q, %v, %v; want %q appended to dst", k, v, ok, err, m[k])
				}
			}
		})
	}
}

func TestScanStopsEarly(t *testing.T) {
	s := openTest(t, Options{})
	for i := range 10 {
		if err := s.Set(kgKey(3, fmt.Sprint(i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	if err := s.Scan(kgKey(3, ""), func(k, v []byte) bool { n++; return n < 4 }); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("fn called %d times, want 4", n)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{KeyGroupFrom: 5, KeyGroupTo: 5}, {KeyGroupFrom: -1, KeyGroupTo: 3}, {KeyGroupFrom: 0, KeyGroupTo: 1 << 17}} {
		if _, err := Open(context.Background(), t.TempDir(), o); err == nil {
			t.Errorf("Open with key groups [%d, %d) succeeded", o.KeyGroupFrom, o.KeyGroupTo)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{0xff, 0xff}, nil},
		{[]byte{0x00, 0xff}, []byte{0x01}},
		{[]byte{0x00, 0xfe}, []byte{0x00, 0xff}},
		{[]byte{0x12, 0xff, 0xff}, []byte{0x13}},
	}
	for _, c := range cases {
		if got := prefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}
