package fileio

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type person struct {
	Name string
	Age  int
	Note string
}

func parsePerson(f []string) (person, error) {
	if len(f) != 3 {
		return person{}, fmt.Errorf("want 3 fields, got %d", len(f))
	}
	age, err := strconv.Atoi(f[1])
	if err != nil {
		return person{}, fmt.Errorf("field 2 (age): %w", err)
	}
	return person{f[0], age, f[2]}, nil
}

func TestCSVGood(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "people.csv")
	writeFile(t, p, []byte("name,age,note\n"+
		"ann,31,plain\r\n"+
		"# a comment\n"+
		"\n"+
		`"bob, jr",42,"said ""hi"""`+"\n"+
		`"",7,`+"\n"+
		`c"d,5,"x"`))
	want := []person{{"ann", 31, "plain"}, {"bob, jr", 42, `said "hi"`}, {"", 7, ""}, {`c"d`, 5, "x"}}
	for _, size := range []int64{1, 5, 13, 1 << 20} {
		got, err := readSource[person](t, CSV(parsePerson, p).With(WithSkipHeader(), WithComment('#'), WithSplitSize(size)), 2, 2)
		if err != nil {
			t.Fatalf("split size %d: %v", size, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split size %d: got %+v, want %+v", size, got, want)
		}
	}
	// Semicolons, and the header not skipped: it is a bad record then.
	writeFile(t, p, []byte("a;1;x\nb;2;\"y;z\"\n"))
	got, err := readSource[person](t, CSV(parsePerson, p).With(WithDelimiter(';')), 1, 10)
	if err != nil || !reflect.DeepEqual(got, []person{{"a", 1, "x"}, {"b", 2, "y;z"}}) {
		t.Fatalf("semicolons: %+v, %v", got, err)
	}
}

func TestCSVBadRecords(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.csv")
	content := "ann,31,ok\n" + // offset 0, line 1
		"bob,old,x\n" + // offset 10, line 2: parse error
		"cy,3,\"open\n" + // offset 20, line 3: unterminated quote
		"dee,4,\"q\"x\n" + // offset 31, line 4: text after quote
		"eve,5,ok\n" // offset 41, line 5
	writeFile(t, p, []byte(content))

	_, err := readSource[person](t, CSV(parsePerson, p), 1, 10)
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("want *RecordError, got %v", err)
	}
	if re.Path != p || re.Offset != 10 || re.Line != 2 || !errors.Is(err, strconv.ErrSyntax) {
		t.Fatalf("record error %+v", re)
	}
	msg := err.Error()
	for _, want := range []string{p + ":10", "(line 2)", "age", `"bob,old,x"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}

	// A later split knows only offsets.
	src := CSV(parsePerson, p).With(WithSplitSize(20))
	splits, err := src.Splits(t.Context(), splitCtx(1))
	if err != nil || len(splits) != 3 {
		t.Fatalf("splits %d, %v", len(splits), err)
	}
	_, err = readSplit[person](t.Context(), src, splits[1], 10)
	if !errors.As(err, &re) || re.Offset != 20 || re.Line != 0 || re.Field != 3 || !errors.Is(err, ErrMultilineField) {
		t.Fatalf("second split error: %v (%+v)", err, re)
	}
	if !strings.Contains(err.Error(), p+":20: field 3:") || !strings.Contains(err.Error(), "spanning lines") {
		t.Fatalf("second split message: %v", err)
	}

	// Skipping with a limit: 3 bad records in one split.
	var seen []int64
	got, err := readSource[person](t, CSV(parsePerson, p).With(WithSkipBadRecords(3),
		WithBadRecordHandler(func(e *RecordError) { seen = append(seen, e.Offset) })), 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []person{{"ann", 31, "ok"}, {"eve", 5, "ok"}}) || !reflect.DeepEqual(seen, []int64{10, 20, 31}) {
		t.Fatalf("skipped: got %+v, handler saw %v", got, seen)
	}
	_, err = readSource[person](t, CSV(parsePerson, p).With(WithSkipBadRecords(2)), 1, 10)
	if !errors.Is(err, errTooManyBad) || !errors.As(err, &re) || re.Offset != 31 || re.Field != 3 {
		t.Fatalf("over the limit: %v", err)
	}
	if !strings.Contains(err.Error(), "3 exceeds the limit of 2") || !strings.Contains(err.Error(), "after closing quote") {
		t.Fatalf("over the limit message: %v", err)
	}
	got, err = readSource[person](t, CSV(parsePerson, p).With(WithSkipBadRecords(-1)), 1, 1)
	if err != nil || len(got) != 2 {
		t.Fatalf("unlimited skipping: %v %v", got, err)
	}

	// The reader counts skipped records.
	src = CSV(parsePerson, p).With(WithSkipBadRecords(10))
	splits, _ = src.Splits(t.Context(), splitCtx(1))
	r, err := src.OpenSplit(t.Context(), readerCtx(), splits[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := readAllFrom(t, r); err != nil {
		t.Fatal(err)
	}
	if n := r.(BadRecordCounter).BadRecords(); n != 3 {
		t.Fatalf("BadRecords = %d, want 3", n)
	}
}

func TestCSVConfigErrors(t *testing.T) {
	if _, err := CSV[int](nil, "x").Splits(t.Context(), splitCtx(1)); err == nil {
		t.Error("nil parse: want error")
	}
	for _, opt := range []Option{WithDelimiter('"'), WithDelimiter('\n'), WithDelimiter('é'), WithComment('"')} {
		if _, err := CSV(parsePerson, "x").With(opt).Splits(t.Context(), splitCtx(1)); err == nil || !strings.Contains(err.Error(), "invalid CSV") {
			t.Errorf("bad option: %v", err)
		}
	}
}

func TestCSVQuotingRoundTrip(t *testing.T) {
	records := [][]string{
		{"plain", "with,comma", `with "quotes"`, "", "tail\r"},
		{""},
		{"", ""},
		{"#notacomment", "x"},
		{`"`, `""`, ","},
		{" spaced ", "\ttab"},
	}
	for _, rec := range records {
		line := appendCSVRecord(nil, rec, ',', '#')
		if line[len(line)-1] != '\n' {
			t.Fatalf("%q: no newline", line)
		}
		s := string(line[:len(line)-1])
		if s == "" || s[0] == '#' {
			t.Fatalf("record %q encoded as skipped line %q", rec, s)
		}
		got, _, err := splitCSV(s, ',', nil, nil)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip of %q via %q = %q, %v", rec, s, got, err)
		}
	}
}

func FuzzCSVLine(f *testing.F) {
	f.Add(`a,"b""c",d`, ",x", byte(','))
	f.Add(`"unterminated`, `"`, byte(';'))
	f.Add(`"a"b`, "", byte('\t'))
	f.Add(",,", "a\"b", byte('|'))
	f.Fuzz(func(t *testing.T, line, field string, delim byte) {
		if delim == '"' || delim == '\r' || delim == '\n' || delim == 0 || delim >= 0x80 {
			delim = ','
		}
		// Parsing arbitrary input never panics and reports sane positions.
		fields, _, err := splitCSV(line, delim, nil, nil)
		if err != nil && (err.field < 1 || err.col < 1 || err.col > len(line)+1) {
			t.Fatalf("bad error position %+v for %q", err, line)
		}
		if err == nil && len(fields) == 0 {
			t.Fatalf("no fields for %q", line)
		}
		// Records built from parsed fields plus an arbitrary field round-trip.
		rec := append(append([]string(nil), fields...), field)
		for _, f := range rec {
			if strings.ContainsAny(f, "\r\n") {
				return
			}
		}
		enc := appendCSVRecord(nil, rec, delim, '#')
		got, _, perr := splitCSV(string(enc[:len(enc)-1]), delim, nil, nil)
		if perr != nil || !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip of %q via %q = %q, %v", rec, enc, got, perr)
		}
	})
}
