package fileio

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type event struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
}

func TestJSONLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "events.jsonl")
	writeFile(t, p, []byte(`{"id":1,"kind":"a"}`+"\n\n   \n"+`{"id":2,"kind":"b<>"}`+"\r\n"+`{"id":3}`))
	want := []event{{1, "a"}, {2, "b<>"}, {3, ""}}
	for _, size := range []int64{1, 7, 1 << 20} {
		got, err := readSource[event](t, JSONLines[event](p).With(WithSplitSize(size)), 2, 2)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("size %d: %+v, %v", size, got, err)
		}
	}
	gz := filepath.Join(dir, "z", "e.jsonl.gz")
	writeFile(t, gz, gzipBytes(t, []byte(`{"id":9,"kind":"z"}`+"\n")))
	got, err := readSource[event](t, JSONLines[event](gz), 1, 10)
	if err != nil || !reflect.DeepEqual(got, []event{{9, "z"}}) {
		t.Fatalf("gzip: %+v %v", got, err)
	}
}

func TestJSONLinesBad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.jsonl")
	writeFile(t, p, []byte(`{"id":1}`+"\n"+`{"id":"two"}`+"\n"+`{broken`+"\n"+`{"id":4}`+"\n"))
	_, err := readSource[event](t, JSONLines[event](p), 1, 10)
	var re *RecordError
	if !errors.As(err, &re) || re.Offset != 9 || re.Line != 2 || re.Path != p {
		t.Fatalf("bad record: %v", err)
	}
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) || !strings.Contains(err.Error(), p+":9 (line 2)") {
		t.Fatalf("bad record error: %v", err)
	}
	got, err := readSource[event](t, JSONLines[event](p).With(WithSkipBadRecords(2)), 1, 10)
	if err != nil || !reflect.DeepEqual(got, []event{{1, ""}, {4, ""}}) {
		t.Fatalf("skipping: %+v %v", got, err)
	}
	_, err = readSource[event](t, JSONLines[event](p).With(WithSkipBadRecords(1)), 1, 10)
	var se *json.SyntaxError
	if !errors.Is(err, errTooManyBad) || !errors.As(err, &se) || !strings.Contains(err.Error(), p+":22") {
		t.Fatalf("over the limit: %v", err)
	}
}
