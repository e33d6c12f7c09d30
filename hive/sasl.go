package hive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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

// Limits on what a server may send: negotiation frames are small tokens,
// data frames hold one Thrift message.
const (
	maxNegFrame  = 1 << 20
	maxDataFrame = 256 << 20
)

// saslMechanism is the client side of one SASL mechanism.
type saslMechanism interface {
	// name is the mechanism sent in the START frame ("PLAIN", "GSSAPI").
	name() string
	// initial returns the initial response and whether the mechanism is
	// then complete.
	initial() (resp []byte, complete bool, err error)
	// step answers a server challenge; complete reports that the
	// client side is done after this response.
	step(challenge []byte) (resp []byte, complete bool, err error)
}

// saslTransport is the client side of Thrift's TSaslClientTransport: a
// negotiation of [status byte][4-byte big-endian length][payload] frames
// driven by a mechanism, then every message framed by a 4-byte
// big-endian length. Only mechanisms without a security layer are
// supported (PLAIN; GSSAPI with "no security layer"), so data frames are
// not wrapped.
type saslTransport struct {
	under  thrift.TTransport
	mech   saslMechanism
	rframe []byte
	rpos   int
	wbuf   bytes.Buffer
	hdr    [5]byte
}

func newSASL(under thrift.TTransport, mech saslMechanism) *saslTransport {
	return &saslTransport{under: under, mech: mech}
}

func newSASLPlain(under thrift.TTransport, user, password string) *saslTransport {
	return newSASL(under, plainMechanism{user: user, password: password})
}

// plainMechanism is SASL PLAIN (RFC 4616) with an empty authorization id.
type plainMechanism struct{ user, password string }

func (plainMechanism) name() string { return "PLAIN" }

func (p plainMechanism) initial() ([]byte, bool, error) {
	return append(append(append([]byte{0}, p.user...), 0), p.password...), true, nil
}

func (plainMechanism) step([]byte) ([]byte, bool, error) {
	return nil, false, errors.New("PLAIN got a challenge after its response")
}

// Open connects the underlying transport and runs the negotiation the
// way Thrift's Java TSaslTransport does: START with the mechanism name,
// the initial response (OK, or COMPLETE when the mechanism is done), then
// one response per server challenge until the mechanism completes; the
// server ends with COMPLETE.
func (t *saslTransport) Open() error {
	if !t.under.IsOpen() {
		if err := t.under.Open(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	mech := t.mech.name()
	if err := t.sendNeg(ctx, saslStart, []byte(mech)); err != nil {
		return err
	}
	resp, complete, err := t.mech.initial()
	if err != nil {
		return fmt.Errorf("SASL %s: %w", mech, err)
	}
	if err := t.sendNeg(ctx, statusFor(complete), resp); err != nil {
		return err
	}
	var last byte
	for !complete {
		status, challenge, err := t.readNeg(mech)
		if err != nil {
			return err
		}
		last = status
		if resp, complete, err = t.mech.step(challenge); err != nil {
			return fmt.Errorf("SASL %s: %w", mech, err)
		}
		if status == saslComplete {
			if !complete {
				return fmt.Errorf("SASL %s: the metastore completed the negotiation before the client did", mech)
			}
			return nil
		}
		if err := t.sendNeg(ctx, statusFor(complete), resp); err != nil {
			return err
		}
	}
	if last == saslComplete {
		return nil
	}
	status, _, err := t.readNeg(mech)
	if err != nil {
		return err
	}
	if status != saslComplete && status != saslOK {
		return fmt.Errorf("SASL %s: the metastore ended the negotiation with status %d, want COMPLETE", mech, status)
	}
	return nil
}

func statusFor(complete bool) byte {
	if complete {
		return saslComplete
	}
	return saslOK
}

func (t *saslTransport) sendNeg(ctx context.Context, status byte, payload []byte) error {
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

// readNeg reads one negotiation frame; BAD and ERROR frames become an
// error carrying the server's message.
func (t *saslTransport) readNeg(mech string) (byte, []byte, error) {
	status, p, err := readNegFrame(t.under)
	if err != nil {
		return 0, nil, fmt.Errorf("SASL %s negotiation: %w", mech, err)
	}
	switch status {
	case saslOK, saslComplete:
		return status, p, nil
	case saslBad, saslError:
		return 0, nil, fmt.Errorf("SASL %s refused by the metastore: %s", mech, printable(p))
	default:
		return 0, nil, fmt.Errorf("SASL %s negotiation: unexpected status %d from the metastore", mech, status)
	}
}

// readNegFrame reads [status][length][payload] from r.
func readNegFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxNegFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes (limit %d)", n, maxNegFrame)
	}
	p, err := readFull(r, nil, int(n))
	if err != nil {
		return 0, nil, err
	}
	return h[0], p, nil
}

// printable returns a server message for an error, with control bytes
// replaced and its length bounded.
func printable(p []byte) string {
	if len(p) > 512 {
		p = p[:512]
	}
	return string(bytes.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, p))
}

func (t *saslTransport) IsOpen() bool { return t.under.IsOpen() }

func (t *saslTransport) Close() error { return t.under.Close() }

func (t *saslTransport) Read(p []byte) (int, error) {
	if t.rpos >= len(t.rframe) {
		var h [4]byte
		if _, err := io.ReadFull(t.under, h[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(h[:])
		if n > maxDataFrame {
			return 0, fmt.Errorf("SASL transport: frame of %d bytes (limit %d)", n, maxDataFrame)
		}
		frame, err := readFull(t.under, t.rframe[:0], int(n))
		if err != nil {
			return 0, err
		}
		t.rframe, t.rpos = frame, 0
	}
	n := copy(p, t.rframe[t.rpos:])
	t.rpos += n
	return n, nil
}

// readFull reads n bytes from r into buf (reused if large enough). Large
// frames grow with the data that actually arrives, so a length prefix
// alone cannot make the client allocate the limit.
func readFull(r io.Reader, buf []byte, n int) ([]byte, error) {
	if n <= cap(buf) || n <= 1<<20 {
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var b bytes.Buffer
	got, err := b.ReadFrom(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if got < int64(n) {
		return nil, io.ErrUnexpectedEOF
	}
	return b.Bytes(), nil
}

func (t *saslTransport) Write(p []byte) (int, error) { return t.wbuf.Write(p) }

func (t *saslTransport) Flush(ctx context.Context) error {
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

func (t *saslTransport) RemainingBytes() uint64 { return ^uint64(0) }
