package hive

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
)

// SASL negotiation status bytes of Thrift's TSaslTransport.
const (
	saslStart    = 1
	saslOK       = 2
	saslBad      = 3
	saslError    = 4
	saslComplete = 5
)

// saslPlainTransport is the client side of Thrift's TSaslTransport with
// the PLAIN mechanism (what Hive calls auth NONE): a negotiation of
// [status][length][payload] frames, then every message framed by a 4-byte
// big-endian length (PLAIN has no integrity or privacy layer).
type saslPlainTransport struct {
	under    thrift.TTransport
	user     string
	password string
	rframe   []byte
	rpos     int
	wbuf     bytes.Buffer
	hdr      [5]byte
}

func newSASLPlain(under thrift.TTransport, user, password string) *saslPlainTransport {
	return &saslPlainTransport{under: under, user: user, password: password}
}

func (t *saslPlainTransport) Open() error {
	if !t.under.IsOpen() {
		if err := t.under.Open(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	if err := t.sendNeg(ctx, saslStart, []byte("PLAIN")); err != nil {
		return err
	}
	resp := append(append(append([]byte{0}, t.user...), 0), t.password...)
	if err := t.sendNeg(ctx, saslComplete, resp); err != nil {
		return err
	}
	status, payload, err := t.readNeg()
	if err != nil {
		return err
	}
	if status != saslComplete && status != saslOK {
		return fmt.Errorf("SASL PLAIN negotiation refused (status %d): %s", status, payload)
	}
	return nil
}

func (t *saslPlainTransport) sendNeg(ctx context.Context, status byte, payload []byte) error {
	t.hdr[0] = status
	binary.BigEndian.PutUint32(t.hdr[1:], uint32(len(payload)))
	if _, err := t.under.Write(t.hdr[:]); err != nil {
		return err
	}
	if _, err := t.under.Write(payload); err != nil {
		return err
	}
	return t.under.Flush(ctx)
}

func (t *saslPlainTransport) readNeg() (byte, []byte, error) {
	if _, err := io.ReadFull(t.under, t.hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("SASL negotiation: %w", err)
	}
	n := binary.BigEndian.Uint32(t.hdr[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("SASL negotiation: frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(t.under, p); err != nil {
		return 0, nil, fmt.Errorf("SASL negotiation: %w", err)
	}
	return t.hdr[0], p, nil
}

func (t *saslPlainTransport) IsOpen() bool { return t.under.IsOpen() }

func (t *saslPlainTransport) Close() error { return t.under.Close() }

func (t *saslPlainTransport) Read(p []byte) (int, error) {
	if t.rpos >= len(t.rframe) {
		var h [4]byte
		if _, err := io.ReadFull(t.under, h[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(h[:])
		if n > 256<<20 {
			return 0, fmt.Errorf("SASL transport: frame of %d bytes", n)
		}
		if cap(t.rframe) < int(n) {
			t.rframe = make([]byte, n)
		}
		t.rframe = t.rframe[:n]
		if _, err := io.ReadFull(t.under, t.rframe); err != nil {
			return 0, err
		}
		t.rpos = 0
	}
	n := copy(p, t.rframe[t.rpos:])
	t.rpos += n
	return n, nil
}

func (t *saslPlainTransport) Write(p []byte) (int, error) { return t.wbuf.Write(p) }

func (t *saslPlainTransport) Flush(ctx context.Context) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(t.wbuf.Len()))
	if _, err := t.under.Write(h[:]); err != nil {
		return err
	}
	if _, err := t.under.Write(t.wbuf.Bytes()); err != nil {
		return err
	}
	t.wbuf.Reset()
	return t.under.Flush(ctx)
}

func (t *saslPlainTransport) RemainingBytes() uint64 { return ^uint64(0) }
