package hadooprpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Version is the Hadoop RPC version this package speaks.
const Version = 9

// maxFrame bounds the size of one frame read from the peer.
const maxFrame = 64 << 20

// Call ids with a meaning of their own.
const (
	connectionContextCallID = -3
	pingCallID              = -4
)

// ReadFrame reads one length-prefixed frame.
func ReadFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrame {
		return nil, fmt.Errorf("hadooprpc: frame of %d bytes exceeds the limit of %d", size, maxFrame)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("hadooprpc: short frame: %w", err)
	}
	return buf, nil
}

// AppendFrame appends a frame holding the varint-delimited messages to dst.
func AppendFrame(dst []byte, msgs ...proto.Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, m := range msgs {
		var err error
		if dst, err = AppendDelimited(dst, m); err != nil {
			return nil, err
		}
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst, nil
}

// AppendDelimited appends m, prefixed by its varint length, to dst.
func AppendDelimited(dst []byte, m proto.Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("hadooprpc: marshal %T: %w", m, err)
	}
	dst = protowire.AppendVarint(dst, uint64(len(b)))
	return append(dst, b...), nil
}

// CutDelimited parses the varint-delimited message at the start of b into
// m and returns the rest of b.
func CutDelimited(b []byte, m proto.Message) ([]byte, error) {
	n, l := protowire.ConsumeVarint(b)
	if l < 0 {
		return nil, errors.New("hadooprpc: bad message length prefix")
	}
	b = b[l:]
	if uint64(len(b)) < n {
		return nil, fmt.Errorf("hadooprpc: message of %d bytes cut short at %d", n, len(b))
	}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b[:n], m); err != nil {
		return nil, fmt.Errorf("hadooprpc: parse %T: %w", m, err)
	}
	return b[n:], nil
}

// RemoteError is an exception thrown by the server: a Java class name and
// its message.
type RemoteError struct {
	// Class is the exception's Java class, e.g.
	// org.apache.hadoop.yarn.exceptions.YarnException.
	Class string
	// Message is the exception's message.
	Message string
	// Fatal is true when the server closed the connection after it.
	Fatal bool
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return e.Class
	}
	return e.Class + ": " + e.Message
}

// Exception classes clients commonly test for.
const (
	// ExStandby makes a client fail over to another server of an HA pair.
	ExStandby = "org.apache.hadoop.ipc.StandbyException"
	// ExNoSuchMethod answers a method the server does not implement.
	ExNoSuchMethod = "org.apache.hadoop.ipc.RpcNoSuchMethodException"
	// ExNoSuchProtocol answers a protocol the server does not serve.
	ExNoSuchProtocol = "org.apache.hadoop.ipc.RpcNoSuchProtocolException"
	// ExIO is java.io.IOException.
	ExIO = "java.io.IOException"
)

// IsRemote reports whether err is a RemoteError of the given class.
func IsRemote(err error, class string) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Class == class
}
