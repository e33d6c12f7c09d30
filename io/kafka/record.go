package kafka

import (
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a Kafka record as the source reads it and the sink writes it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the record's time in Unix milliseconds.
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// fill sets r from a fetched record. Key and Value alias the fetched
// record's memory, which the client does not reuse.
func (r *Record) fill(kr *kgo.Record) {
	r.Topic, r.Partition, r.Offset = kr.Topic, kr.Partition, kr.Offset
	r.Timestamp = kr.Timestamp.UnixMilli()
	r.Key, r.Value = kr.Key, kr.Value
	r.Headers = r.Headers[:0]
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
	}
}

// Deserializer turns a fetched record into the source's record type. The
// *Record is only valid during the call (the reader reuses it); its Key,
// Value and header values may be retained. An error is handled by the
// source's error policy (see SkipBadRecords and DeadLetter).
type Deserializer[T any] func(r *Record) (T, error)

// Bytes returns the record value.
func Bytes(r *Record) ([]byte, error) { return r.Value, nil }

// String returns the record value as a string.
func String(r *Record) (string, error) { return string(r.Value), nil }

// Records returns a copy of the whole record (headers included).
func Records(r *Record) (Record, error) {
	c := *r
	if len(r.Headers) > 0 {
		c.Headers = append([]Header(nil), r.Headers...)
	} else {
		c.Headers = nil
	}
	return c, nil
}

// JSON returns a deserializer that unmarshals the record value into a T.
func JSON[T any]() Deserializer[T] {
	return func(r *Record) (T, error) {
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return v, fmt.Errorf("decoding JSON value: %w", err)
		}
		return v, nil
	}
}

// Serializer fills dst (whose Topic is the sink's topic, Partition -1 and
// other fields empty) from v. It may set Key, Value, Headers, Timestamp
// (0 = the record's event time, or now), Topic (to route to another
// topic) and, with ExplicitPartitions, Partition.
type Serializer[T any] func(dst *Record, v T) error

// StringValues writes strings as record values without keys.
func StringValues(dst *Record, v string) error {
	dst.Value = []byte(v)
	return nil
}

// BytesValues writes byte slices as record values without keys.
func BytesValues(dst *Record, v []byte) error {
	dst.Value = v
	return nil
}

// JSONValues returns a serializer writing v as JSON, keyed by key(v) when
// key is not nil (records with the same key go to the same partition).
func JSONValues[T any](key func(T) []byte) Serializer[T] {
	return func(dst *Record, v T) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding JSON value: %w", err)
		}
		dst.Value = b
		if key != nil {
			dst.Key = key(v)
		}
		return nil
	}
}
