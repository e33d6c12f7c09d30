package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// splitVersion is the first byte of an encoded split.
const splitVersion byte = 1

// noStop marks an unbounded split.
const noStop int64 = -1

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String implements fmt.Stringer: "topic/partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// SplitState is the decoded Data of a Kafka split: the partition, the next
// offset to read and, for a bounded split, the offset to stop before. It is
// exported so that sources wrapping this one (e.g. a hybrid source) can
// build and inspect splits.
type SplitState struct {
	TopicPartition
	// Next is the offset of the next record to read.
	Next int64
	// Stop is the exclusive end offset, or -1 for an unbounded split.
	Stop int64
}

// Bounded reports whether the split ends.
func (s SplitState) Bounded() bool { return s.Stop >= 0 }

// ID is the split's stable id: "kafka:topic:partition".
func (s SplitState) ID() string { return fmt.Sprintf("kafka:%s:%d", s.Topic, s.Partition) }

// Encode returns the split's Data: a version byte, then the topic (uvarint
// length + bytes) and the partition, next and stop offsets as varints.
func (s SplitState) Encode() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*4+len(s.Topic))
	b = append(b, splitVersion)
	b = binary.AppendUvarint(b, uint64(len(s.Topic)))
	b = append(b, s.Topic...)
	b = binary.AppendVarint(b, int64(s.Partition))
	b = binary.AppendVarint(b, s.Next)
	return binary.AppendVarint(b, s.Stop)
}

var errBadSplit = errors.New("kafka: malformed split data")

// DecodeSplit decodes Encode's output.
func DecodeSplit(data []byte) (SplitState, error) {
	var s SplitState
	if len(data) == 0 || data[0] != splitVersion {
		return s, fmt.Errorf("%w: unknown version (%d bytes)", errBadSplit, len(data))
	}
	b := data[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return s, fmt.Errorf("%w: bad topic length", errBadSplit)
	}
	b = b[k:]
	s.Topic = string(b[:n])
	b = b[n:]
	var vals [3]int64
	for i := range vals {
		v, k := binary.Varint(b)
		if k <= 0 {
			return s, fmt.Errorf("%w: truncated", errBadSplit)
		}
		vals[i] = v
		b = b[k:]
	}
	if len(b) != 0 {
		return s, fmt.Errorf("%w: %d trailing bytes", errBadSplit, len(b))
	}
	if vals[0] < 0 || vals[0] > 1<<31-1 || vals[1] < 0 || vals[2] < noStop || s.Topic == "" {
		return s, fmt.Errorf("%w: topic %q partition %d next %d stop %d out of range", errBadSplit, s.Topic, vals[0], vals[1], vals[2])
	}
	s.Partition, s.Next, s.Stop = int32(vals[0]), vals[1], vals[2]
	return s, nil
}
