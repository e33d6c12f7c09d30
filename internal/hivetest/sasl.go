package hivetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
)

// saslServer is the server side of Thrift's TSaslTransport with the PLAIN
// mechanism.
type saslServer struct {
	under  thrift.TTransport
	rframe []byte
	rpos   int
	wbuf   bytes.Buffer
}

func (s *saslServer) readNeg() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(s.under, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("SASL frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(s.under, p)
	return h[0], p, err
}

func (s *saslServer) writeNeg(ctx context.Context, status byte, p []byte) error {
	var h [5]byte
	h[0] = status
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := s.under.Write(h[:]); err != nil {
		return err
	}
	if _, err := s.under.Write(p); err != nil {
		return err
	}
	return s.under.Flush(ctx)
}

func (s *saslServer) handshake(ctx context.Context, user, password string) error {
	st, mech, err := s.readNeg()
	if err != nil {
		return err
	}
	if st != 1 || string(mech) != "PLAIN" {
		_ = s.writeNeg(ctx, 3, []byte("only SASL PLAIN is supported"))
		return fmt.Errorf("bad SASL start %d %q", st, mech)
	}
	st, resp, err := s.readNeg()
	if err != nil {
		return err
	}
	parts := bytes.Split(resp, []byte{0})
	if (st != 2 && st != 5) || len(parts) != 3 {
		_ = s.writeNeg(ctx, 3, []byte("bad PLAIN response"))
		return fmt.Errorf("bad SASL response")
	}
	if user != "" && (string(parts[1]) != user || string(parts[2]) != password) {
		_ = s.writeNeg(ctx, 3, []byte("authentication failed"))
		return fmt.Errorf("authentication failed")
	}
	return s.writeNeg(ctx, 5, nil)
}

func (s *saslServer) Open() error  { return nil }
func (s *saslServer) IsOpen() bool { return s.under.IsOpen() }
func (s *saslServer) Close() error { return s.under.Close() }

func (s *saslServer) Read(p []byte) (int, error) {
	if s.rpos >= len(s.rframe) {
		var h [4]byte
		if _, err := io.ReadFull(s.under, h[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(h[:])
		if n > 256<<20 {
			return 0, fmt.Errorf("SASL frame of %d bytes", n)
		}
		s.rframe = make([]byte, n)
		if _, err := io.ReadFull(s.under, s.rframe); err != nil {
			return 0, err
		}
		s.rpos = 0
	}
	n := copy(p, s.rframe[s.rpos:])
	s.rpos += n
	return n, nil
}

func (s *saslServer) Write(p []byte) (int, error) { return s.wbuf.Write(p) }

func (s *saslServer) Flush(ctx context.Context) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(s.wbuf.Len()))
	if _, err := s.under.Write(h[:]); err != nil {
		return err
	}
	if _, err := s.under.Write(s.wbuf.Bytes()); err != nil {
		return err
	}
	s.wbuf.Reset()
	return s.under.Flush(ctx)
}

func (s *saslServer) RemainingBytes() uint64 { return ^uint64(0) }
