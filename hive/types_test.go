package hive

import (
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

func TestParseType(t *testing.T) {
	cases := []struct {
		in, want string
		arrow    arrow.Type
	}{
		{"int", "int", arrow.INT32},
		{"INTEGER", "int", arrow.INT32},
		{"tinyint", "tinyint", arrow.INT8},
		{"smallint", "smallint", arrow.INT16},
		{"bigint", "bigint", arrow.INT64},
		{"float", "float", arrow.FLOAT32},
		{"double", "double", arrow.FLOAT64},
		{"decimal", "decimal(10,0)", arrow.DECIMAL128},
		{"decimal( 12 , 3 )", "decimal(12,3)", arrow.DECIMAL128},
		{"string", "string", arrow.STRING},
		{"varchar(20)", "varchar(20)", arrow.STRING},
		{"char(2)", "char(2)", arrow.STRING},
		{"boolean", "boolean", arrow.BOOL},
		{"binary", "binary", arrow.BINARY},
		{"date", "date", arrow.DATE32},
		{"timestamp", "timestamp", arrow.TIMESTAMP},
		{"array<map<string,struct<a:int,b:array<date>>>>", "array<map<string,struct<a:int,b:array<date>>>>", arrow.LIST},
		{"map<int,string>", "map<int,string>", arrow.MAP},
		{"struct<x:int>", "struct<x:int>", arrow.STRUCT},
	}
	for _, c := range cases {
		typ, err := ParseType(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if typ.String() != c.want || typ.Arrow().ID() != c.arrow {
			t.Errorf("%q: %s / %s, want %s / %s", c.in, typ, typ.Arrow(), c.want, c.arrow)
		}
	}
	for _, bad := range []string{"uniontype<int,string>", "interval_day_time", "void", "decimal(40,2)", "decimal(5,6)", "array<int", "map<array<int>,int>", "varchar", "struct<>", ""} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := ParseType("uniontype<int>"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("uniontype: %v", err)
	}
}

func TestJavaFloatText(t *testing.T) {
	for v, want := range map[float64]string{1: "1.0", 0.001: "0.001", 1e7: "1.0E7", 1.5e-4: "1.5E-4", -2.25: "-2.25", 0: "0.0", 123456.5: "123456.5"} {
		if got := string(appendJavaFloat(nil, v, 64)); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}

func TestPartitionTime(t *testing.T) {
	keys := []Column{{Name: "dt"}, {Name: "hr"}}
	got, err := partitionTime("$dt $hr:00:00", keys, []string{"2024-03-01", "07"})
	if err != nil || !got.Equal(time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := partitionTime("$dt", keys, []string{"yesterday", "1"}); err == nil {
		t.Error("bad date parsed")
	}
}

// FuzzTextRow decodes arbitrary lines as a row of nested types: never a
// panic, and values always fit their types.
func FuzzTextRow(f *testing.F) {
	for _, s := range []string{"", "1\x01a\x02b\x01k\x031\x02j\x03\\N", "\\N\x01\\N", "x\x01\x02\x03\x04", "1\x01" + string([]byte{0xff, 2, 3})} {
		f.Add([]byte(s))
	}
	types := []*Type{}
	for _, s := range []string{"int", "array<string>", "map<string,int>", "struct<a:int,b:array<map<string,double>>>", "timestamp", "decimal(5,2)", "binary"} {
		typ, err := ParseType(s)
		if err != nil {
			f.Fatal(err)
		}
		types = append(types, typ)
	}
	tf, _ := newTextFormat(nil)
	f.Fuzz(func(t *testing.T, line []byte) {
		fields := splitFields(line, tf.seps[0], nil)
		for i, typ := range types {
			if i >= len(fields) {
				break
			}
			v := tf.parseValue(fields[i], typ, 1)
			if err := CheckValue(typ, v); err != nil {
				t.Fatalf("column %d (%s): %v", i, typ, err)
			}
			// what we write, we read back
			out := tf.appendValue(nil, typ, v, 1)
			_ = out
		}
	})
}

func FuzzParseType(f *testing.F) {
	for _, s := range []string{"int", "map<string,array<struct<a:int>>>", "decimal(3,1)", "struct<a:int,b:string>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		typ, err := ParseType(s)
		if err != nil {
			return
		}
		again, err := ParseType(typ.String())
		if err != nil || again.String() != typ.String() {
			t.Fatalf("%q -> %q -> %v %v", s, typ, again, err)
		}
		_ = typ.Arrow()
	})
}
