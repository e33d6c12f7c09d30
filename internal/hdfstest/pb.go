package hdfstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	// The client registers Hadoop's message types in the global protobuf
	// registry; the stand-in builds and parses them by name.
	_ "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// fields describes a message to build: proto field names mapped to Go
// values. Scalars are Go strings, []byte, bools and integers; enums are
// given by value name (a string); messages by fields or a
// protoreflect.Message; repeated fields by a []any.
type fields map[string]any

// newMsg returns an empty message of the named type. Unknown names are a
// bug of the stand-in, so they panic.
func newMsg(fullName string) protoreflect.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(fullName))
	if err != nil {
		panic(fmt.Sprintf("hdfstest: message type %s: %v", fullName, err))
	}
	return mt.New()
}

// build returns a message of the named type with the given fields set.
func build(fullName string, f fields) protoreflect.Message {
	m := newMsg(fullName)
	setFields(m, f)
	return m
}

func setFields(m protoreflect.Message, f fields) {
	for name, v := range f {
		fd := field(m, name)
		if fd.IsList() {
			list := m.Mutable(fd).List()
			for _, e := range v.([]any) {
				if fd.Kind() == protoreflect.MessageKind {
					list.Append(protoreflect.ValueOfMessage(messageValue(list.NewElement().Message(), e)))
				} else {
					list.Append(scalar(fd, e))
				}
			}
			continue
		}
		if fd.Kind() == protoreflect.MessageKind {
			m.Set(fd, protoreflect.ValueOfMessage(messageValue(m.NewField(fd).Message(), v)))
			continue
		}
		m.Set(fd, scalar(fd, v))
	}
}

func messageValue(empty protoreflect.Message, v any) protoreflect.Message {
	switch v := v.(type) {
	case fields:
		setFields(empty, v)
		return empty
	case protoreflect.Message:
		return v
	}
	panic(fmt.Sprintf("hdfstest: %T is not a message value", v))
}

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("hdfstest: %s has no field %q", m.Descriptor().FullName(), name))
	}
	return fd
}

func scalar(fd protoreflect.FieldDescriptor, v any) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByName(protoreflect.Name(v.(string)))
		if ev == nil {
			panic(fmt.Sprintf("hdfstest: enum %s has no value %v", fd.Enum().FullName(), v))
		}
		return protoreflect.ValueOfEnum(ev.Number())
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.(string))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(v.([]byte))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(v.(bool))
	}
	var n int64
	switch v := v.(type) {
	case int:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case uint32:
		n = int64(v)
	case uint64:
		n = int64(v)
	default:
		panic(fmt.Sprintf("hdfstest: %T for %s", v, fd.FullName()))
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	default:
		return protoreflect.ValueOfUint64(uint64(n))
	}
}

// Readers of request fields; unset optional fields read as zero values.

func str(m protoreflect.Message, name string) string { return m.Get(field(m, name)).String() }
func bytesOf(m protoreflect.Message, name string) []byte {
	return m.Get(field(m, name)).Bytes()
}
func boolOf(m protoreflect.Message, name string) bool { return m.Get(field(m, name)).Bool() }

func u64(m protoreflect.Message, name string) uint64 {
	v := m.Get(field(m, name))
	switch field(m, name).Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return uint64(v.Int())
	case protoreflect.EnumKind:
		return uint64(v.Enum())
	}
	return v.Uint()
}

func i64(m protoreflect.Message, name string) int64 { return int64(u64(m, name)) }

// enum returns the name of the value of an enum field.
func enum(m protoreflect.Message, name string) string {
	fd := field(m, name)
	if ev := fd.Enum().Values().ByNumber(m.Get(fd).Enum()); ev != nil {
		return string(ev.Name())
	}
	return fmt.Sprint(m.Get(fd).Enum())
}

// sub returns the nested message name, or nil when it is unset.
func sub(m protoreflect.Message, name string) protoreflect.Message {
	fd := field(m, name)
	if !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

// Wire helpers: varint-delimited messages.

func appendDelimited(dst []byte, m protoreflect.Message) ([]byte, error) {
	b, err := proto.Marshal(m.Interface())
	if err != nil {
		return nil, err
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...), nil
}

// cutDelimited parses the varint-delimited message at the start of b into
// m and returns the rest of b.
func cutDelimited(b []byte, m protoreflect.Message) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errors.New("bad delimited message")
	}
	if err := proto.Unmarshal(b[k:k+int(n)], m.Interface()); err != nil {
		return nil, err
	}
	return b[k+int(n):], nil
}

// readDelimited reads one varint-delimited message from r, byte by byte
// for the length so that nothing after the message is consumed.
func readDelimited(r io.ByteReader, m protoreflect.Message) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	if n > 16<<20 {
		return fmt.Errorf("message of %d bytes is too large", n)
	}
	b := make([]byte, n)
	for i := range b {
		if b[i], err = r.ReadByte(); err != nil {
			return err
		}
	}
	return proto.Unmarshal(b, m.Interface())
}
