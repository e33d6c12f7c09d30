package hybrid

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// splitVersion is the first byte of an encoded hybrid split.
const splitVersion byte = 'h'

// SplitState is the decoded Data of a hybrid split: the phase it belongs
// to, the phase's start time, the progress of its reader and the inner
// source's split.
type SplitState struct {
	// Phase indexes the source's phases (0 = the first source).
	Phase int
	// Start is the phase's start time: records with an earlier event time
	// are dropped. dag.MinTime keeps every record.
	Start int64
	// MaxEventTime is the largest event time read from the split so far
	// (dag.MinTime: none); Records how many records it emitted.
	MaxEventTime int64
	Records      int64
	// InnerID and Inner are the inner split's ID and Data.
	InnerID string
	Inner   []byte
}

// ID is the split's id: "p<phase>/<inner id>".
func (s SplitState) ID() string { return "p" + strconv.Itoa(s.Phase) + "/" + s.InnerID }

// Encode returns the split's Data: a version byte, the phase (uvarint),
// start, max event time and records (varints), the inner id (uvarint
// length + bytes), then the inner data to the end.
func (s SplitState) Encode() []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+len(s.InnerID)+len(s.Inner))
	b = append(b, splitVersion)
	b = binary.AppendUvarint(b, uint64(s.Phase))
	b = binary.AppendVarint(b, s.Start)
	b = binary.AppendVarint(b, s.MaxEventTime)
	b = binary.AppendVarint(b, s.Records)
	b = binary.AppendUvarint(b, uint64(len(s.InnerID)))
	b = append(b, s.InnerID...)
	return append(b, s.Inner...)
}

var errBadSplit = errors.New("hybrid: malformed split data")

// DecodeSplit decodes Encode's output.
func DecodeSplit(data []byte) (SplitState, error) {
	var s SplitState
	if len(data) == 0 || data[0] != splitVersion {
		return s, fmt.Errorf("%w: unknown version (%d bytes)", errBadSplit, len(data))
	}
	rest := data[1:]
	phase, n := binary.Uvarint(rest)
	if n <= 0 || phase > 1<<20 {
		return s, fmt.Errorf("%w: bad phase", errBadSplit)
	}
	rest = rest[n:]
	var vals [3]int64
	for i, name := range []string{"start", "max event time", "records"} {
		v, n := binary.Varint(rest)
		if n <= 0 {
			return s, fmt.Errorf("%w: bad %s", errBadSplit, name)
		}
		vals[i], rest = v, rest[n:]
	}
	l, n := binary.Uvarint(rest)
	if n <= 0 || l > uint64(len(rest)-n) {
		return s, fmt.Errorf("%w: bad inner id length", errBadSplit)
	}
	rest = rest[n:]
	s.Phase, s.Start, s.MaxEventTime, s.Records = int(phase), vals[0], vals[1], vals[2]
	s.InnerID = string(rest[:l])
	s.Inner = append([]byte(nil), rest[l:]...)
	return s, nil
}
