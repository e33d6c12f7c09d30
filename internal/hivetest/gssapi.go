package hivetest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KerberosOptions make the test metastore expect SASL GSSAPI (Hive's
// hive.metastore.sasl.enabled with Kerberos).
type KerberosOptions struct {
	// Keytab holds the service key the client's AP-REQ is verified with
	// (see Kerberos.Keytab).
	Keytab *keytab.Keytab
	// Layers is the bit mask of security layers offered to the client
	// (1 none, 2 integrity, 4 confidentiality; default 1). The server
	// itself only implements "none".
	Layers byte
	// Impostor makes the server behave as one that does not hold the
	// service key: it accepts any AP-REQ unverified and answers with an
	// AP-REP under a key of its own, which a client checking mutual
	// authentication must refuse.
	Impostor bool
}

// saslError is Thrift's TSaslTransport ERROR status.
const saslError = 4

// handshakeGSSAPI is the acceptor side of SASL GSSAPI (RFC 4752) over
// Thrift's SASL framing, as a Kerberized metastore runs it: the AP-REQ is
// verified with gokrb5's service.VerifyAPREQ and the service keytab, an
// AP-REP answers it (mutual authentication), then the security layer is
// offered in a wrap token and the client's choice checked. It returns
// the client principal. Failures are reported to the client in an ERROR
// frame carrying the reason.
func (s *saslServer) handshakeGSSAPI(ctx context.Context, ko *KerberosOptions) (string, error) {
	fail := func(format string, args ...any) (string, error) {
		msg := "GSSAPI: " + fmt.Sprintf(format, args...)
		_ = s.writeNeg(ctx, saslError, []byte(msg))
		return "", errors.New(msg)
	}
	st, mech, err := s.readNeg()
	if err != nil {
		return "", err
	}
	if st != 1 || string(mech) != "GSSAPI" {
		_ = s.writeNeg(ctx, 3, []byte("only SASL GSSAPI is supported"))
		return "", fmt.Errorf("bad SASL start %d %q", st, mech)
	}
	_, first, err := s.readNeg()
	if err != nil {
		return "", err
	}
	var tok spnego.KRB5Token
	if err := tok.Unmarshal(first); err != nil || !tok.IsAPReq() {
		return fail("the initial token is not a Kerberos AP-REQ (%v)", err)
	}
	if ko.Impostor {
		key, err := types.GenerateEncryptionKey(mustEtype())
		if err != nil {
			return "", err
		}
		rep, err := marshalAPRep(time.Now().UTC().Truncate(time.Second), 0, 1, key)
		if err != nil {
			return "", err
		}
		if err := s.writeNeg(ctx, 2, gssToken([2]byte{2, 0}, rep)); err != nil {
			return "", err
		}
		// Whatever the client answers, the impostor has nothing more
		// to say: it waits for the client to hang up.
		_, _, err = s.readNeg()
		return "", fmt.Errorf("impostor: %v", err)
	}
	settings := service.NewSettings(ko.Keytab, service.DecodePAC(false), service.MaxClockSkew(5*time.Minute))
	ok, creds, err := service.VerifyAPREQ(&tok.APReq, settings)
	if err != nil || !ok {
		return fail("AP-REQ rejected: %v", err)
	}
	if !types.IsFlagSet(&tok.APReq.APOptions, flags.APOptionMutualRequired) {
		return fail("the client did not ask for mutual authentication")
	}
	key := tok.APReq.Ticket.DecryptedEncPart.Key
	auth := tok.APReq.Authenticator
	n, err := rand.Int(rand.Reader, big.NewInt(1<<30))
	if err != nil {
		return "", err
	}
	seq := n.Int64()
	rep, err := marshalAPRep(auth.CTime, auth.Cusec, seq, key)
	if err != nil {
		return fail("building the AP-REP: %v", err)
	}
	if err := s.writeNeg(ctx, 2, gssToken([2]byte{2, 0}, rep)); err != nil {
		return "", err
	}
	if st, p, err := s.readNeg(); err != nil {
		return "", err
	} else if st != 2 || len(p) != 0 {
		return fail("want an empty OK after the AP-REP, got status %d with %d bytes", st, len(p))
	}
	layers := ko.Layers
	if layers == 0 {
		layers = 1
	}
	offer := gssapi.WrapToken{Flags: 0x01, EC: 12, SndSeqNum: uint64(seq), Payload: []byte{layers, 0x01, 0x00, 0x00}}
	if err := offer.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return fail("wrapping the offer: %v", err)
	}
	ob, err := offer.Marshal()
	if err != nil {
		return fail("wrapping the offer: %v", err)
	}
	if err := s.writeNeg(ctx, 2, ob); err != nil {
		return "", err
	}
	_, rb, err := s.readNeg()
	if err != nil {
		return "", err
	}
	var reply gssapi.WrapToken
	if err := reply.Unmarshal(rb, false); err != nil {
		return fail("the client's security layer reply: %v", err)
	}
	if ok, err := reply.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok {
		return fail("the client's security layer reply does not verify: %v", err)
	}
	if reply.SndSeqNum != uint64(auth.SeqNumber) {
		return fail("the client's reply has sequence number %d, want %d", reply.SndSeqNum, auth.SeqNumber)
	}
	if len(reply.Payload) < 4 || reply.Payload[0] != 1 || binary.BigEndian.Uint32(reply.Payload[:4])&0xffffff != 0 {
		return fail("the client chose %x; this server only implements no security layer with max size 0", reply.Payload)
	}
	if err := s.writeNeg(ctx, 5, nil); err != nil {
		return "", err
	}
	return creds.CName().PrincipalNameString() + "@" + creds.Domain(), nil
}

func encryptAPRepPart(b []byte, key types.EncryptionKey) (types.EncryptedData, error) {
	return crypto.GetEncryptedData(b, key, keyusage.AP_REP_ENCPART, 0)
}

func mustEtype() etype.EType {
	et, err := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		panic(err) // a constant supported by gokrb5
	}
	return et
}
