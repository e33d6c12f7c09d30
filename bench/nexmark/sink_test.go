package nexmark

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

// TestReadRecorded checks how recorded checksum parts are merged: every
// distinct part counts, even with equal contents, and a part id found twice
// is an error.
func TestReadRecorded(t *testing.T) {
	cases := []struct {
		name    string
		text    string
		want    Summary
		wantErr string
		replay  bool
	}{
		{name: "empty", text: "", want: Summary{}},
		{name: "two parts", text: "00000000000000aa-1 3 10\n00000000000000aa-2 2 5\n", want: Summary{Records: 5, Hash: 0x15}},
		{name: "equal contents of two writers both count", text: "00000000000000aa-1 3 10\n00000000000000bb-1 3 10\n",
			want: Summary{Records: 6, Hash: 0x20}},
		{name: "same line twice is a replay", text: "00000000000000aa-1 3 10\n00000000000000aa-1 3 10\n",
			wantErr: "lines 1 and 2", replay: true},
		{name: "same id other contents is a replay", text: "00000000000000aa-1 3 10\n00000000000000aa-1 4 10\n",
			wantErr: "part 00000000000000aa-1", replay: true},
		{name: "old format without writer", text: "1 3 10\n", wantErr: "line 1: bad checksum record"},
		{name: "bad count", text: "00000000000000aa-1 x 10\n", wantErr: "line 1: bad checksum record"},
		{name: "bad hash", text: "00000000000000aa-1 3 zz\n", wantErr: "line 1: bad checksum record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sum")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadRecorded(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadRecorded = %v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				if errors.Is(err, ErrReplayedPart) != tc.replay {
					t.Fatalf("errors.Is(%v, ErrReplayedPart) = %v, want %v", err, !tc.replay, tc.replay)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadRecorded = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestChecksumCommitReplay checks that writers of different attempts get
// different part ids even when they prepare equal summaries, that a
// retried commit of the same committable counts once, and that a part id
// committed with other contents is an error.
func TestChecksumCommitReplay(t *testing.T) {
	ctx := context.Background()
	sink := NewChecksumSink[Bid]()
	path := filepath.Join(t.TempDir(), "sum")
	sink.Checksum().RecordTo(path)
	prepare := func() []byte {
		w, err := sink.NewWriter(ctx, dag.SinkContext{})
		if err != nil {
			t.Fatal(err)
		}
		b := &dag.Batch[Bid]{Vals: []Bid{{Auction: 1, Price: 7}}}
		if err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		parts, err := w.Prepare(ctx)
		if err != nil || len(parts) != 1 {
			t.Fatalf("Prepare = %d parts, %v", len(parts), err)
		}
		return parts[0]
	}
	// Two attempts of the same subtask prepare the same rows: both count.
	a, b := prepare(), prepare()
	c := sink.Checksum()
	if err := c.Commit(ctx, [][]byte{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, [][]byte{a}); err != nil { // a retried commit
		t.Fatalf("retried commit: %v", err)
	}
	one := Summarize([]Bid{{Auction: 1, Price: 7}})
	want := one
	want.Merge(one)
	if got := c.Summary(); got != want {
		t.Fatalf("Summary = %v, want %v", got, want)
	}
	if got, err := ReadRecorded(path); err != nil || got != want {
		t.Fatalf("ReadRecorded = %v, %v; want %v", got, err, want)
	}
	// The same part id with other contents.
	id, s, err := decodePart(a)
	if err != nil {
		t.Fatal(err)
	}
	s.Records++
	if err := c.Commit(ctx, [][]byte{encodePart(id, s)}); !errors.Is(err, ErrReplayedPart) {
		t.Fatalf("Commit of a replayed part = %v, want ErrReplayedPart", err)
	}
	if _, _, err := decodePart(a[:len(a)-1]); err == nil {
		t.Fatal("decodePart of a truncated committable succeeded")
	}
}
