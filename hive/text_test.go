package hive_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dagflow/dagflow/hive"
	"github.com/dagflow/dagflow/internal/hivetest"
)

// TestTextGolden checks Hive's LazySimpleSerDe conventions byte for byte:
// \x01 between fields, \x02 between collection items, \x03 between map
// keys and values, \N for NULL, Java float text, timestamps without a
// zero fraction, binary as base64.
func TestTextGolden(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		tbl := createTable(t, cat, "default.txt", hive.FormatText, []string{
			"id int", "name string", "score double", "f float", "tags array<string>", "attrs map<string,int>",
			"pt struct<x:int,y:array<int>>", "at timestamp", "d date", "bin binary", "ok boolean", "amount decimal(5,2)"}, nil)
		rows := []hive.Row{
			{int32(1), "alice", 1.0, float32(1e7), []any{"a", "b"}, []hive.MapEntry{{Key: "k1", Value: int32(1)}, {Key: "k2", Value: nil}},
				[]any{int32(5), []any{int32(6), int32(7)}}, ts("2024-01-02 03:04:05"), hive.DateOf(2024, 2, 29), []byte("hi"), true, hive.MustDecimal("-1.5", 5, 2)},
			{int32(2), nil, 0.001, float32(-2.5), []any{}, nil, nil, ts("2024-01-02 03:04:05.12"), nil, nil, false, nil},
		}
		writeRows(t, hive.Sink(cat, "default.txt"), rows)
		files, _ := filepath.Glob(filepath.Join(tbl.Storage.Location, "part-*"))
		if len(files) != 1 {
			t.Fatalf("files %q", files)
		}
		got, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		want := "1\x01alice\x011.0\x011.0E7\x01a\x02b\x01k1\x031\x02k2\x03\\N\x015\x026\x037\x012024-01-02 03:04:05\x012024-02-29\x01aGk=\x01true\x01-1.50\n" +
			"2\x01\\N\x010.001\x01-2.5\x01\x01\\N\x01\\N\x012024-01-02 03:04:05.12\x01\\N\x01\\N\x01false\x01\\N\n"
		if string(got) != want {
			t.Fatalf("file bytes\ngot:  %q\nwant: %q", got, want)
		}
		// read back: an empty array reads as an empty array, like Hive
		equalRows(t, readAll(t, hive.Source(cat, "default.txt"), 1), rows)
	})
}

// TestTextCustomDelimiterAndSplits reads a hand-written text table with
// field.delim ',' cut into many byte-range splits.
func TestTextCustomDelimiterAndSplits(t *testing.T) {
	forEachCatalog(t, func(t *testing.T, cat hive.Catalog, _ *hivetest.Metastore, wh string) {
		tbl, err := hive.NewTable("default.csvish", hive.FormatText, []string{"a int", "b string"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tbl.Storage.SerDeParams["field.delim"] = ","
		tbl.Storage.SerDeParams["serialization.null.format"] = "NULL"
		if err := cat.CreateTable(context.Background(), tbl); err != nil {
			t.Fatal(err)
		}
		tbl, _ = cat.Table(context.Background(), "default", "csvish")
		var content []byte
		var want []hive.Row
		for i := 0; i < 500; i++ {
			s := "row" + string(rune('a'+i%26))
			var v any = s
			if i%7 == 0 {
				s, v = "NULL", nil
			}
			content = append(content, []byte(itoa(i)+","+s+",extra\n")...)
			want = append(want, hive.Row{int32(i), v})
		}
		content = append(content, []byte("notanint\n")...) // bad int reads as NULL, missing field too
		want = append(want, hive.Row{nil, nil})
		if err := os.MkdirAll(tbl.Storage.Location, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tbl.Storage.Location, "000000_0"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(tbl.Storage.Location, ".hidden"), []byte("x,y\n"), 0o644)
		os.WriteFile(filepath.Join(tbl.Storage.Location, "_SUCCESS"), []byte("x,y\n"), 0o644)
		src := hive.Source(cat, "default.csvish", hive.SplitSize(97))
		equalRows(t, readAll(t, src, 4), want)
	})
}

func itoa(i int) string {
	return string([]byte(func() []byte {
		if i == 0 {
			return []byte("0")
		}
		var b []byte
		for ; i > 0; i /= 10 {
			b = append([]byte{byte('0' + i%10)}, b...)
		}
		return b
	}()))
}
