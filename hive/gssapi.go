package hive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// SASL GSSAPI security layers (RFC 4752 section 3.3).
const (
	layerNone      = 1
	layerIntegrity = 2
	layerPrivacy   = 4
)

// RFC 4121 token flags.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// gssapiMechanism is the client side of SASL GSSAPI (RFC 4752) over
// Kerberos V5 (RFC 4121): the AP-REQ in the initial token with mutual
// authentication required, the AP-REP checked, then the security-layer
// negotiation, where it always chooses "no security layer" (Hive's QOP
// "auth"): integrity and confidentiality layers are not implemented.
// Only AES session keys are accepted (RFC 4121 wrap tokens; the RFC 1964
// tokens of DES and RC4 keys are not implemented).
type gssapiMechanism struct {
	cl  *krbclient.Client
	spn string // service principal without realm
	// After initial:
	key  types.EncryptionKey // session key of the service ticket
	auth types.Authenticator // the authenticator sent
	// After the AP-REP: the acceptor's subkey, if it sent one.
	subkey *types.EncryptionKey
	stage  int
}

func newGSSAPI(cl *krbclient.Client, spn string) *gssapiMechanism {
	return &gssapiMechanism{cl: cl, spn: spn}
}

func (*gssapiMechanism) name() string { return "GSSAPI" }

func (g *gssapiMechanism) initial() ([]byte, bool, error) {
	tkt, key, err := g.cl.GetServiceTicket(g.spn)
	if err != nil {
		return nil, false, fmt.Errorf("no service ticket for %s: %w", g.spn, err)
	}
	if !rfc4121Key(key.KeyType) {
		return nil, false, fmt.Errorf("the session key for %s has encryption type %d: only AES (aes128/aes256-cts-hmac-sha1-96, aes128/aes256-cts-hmac-sha256/384) is supported", g.spn, key.KeyType)
	}
	tok, err := spnego.NewKRB5TokenAPREQ(g.cl, tkt, key,
		[]int{gssapi.ContextFlagMutual, gssapi.ContextFlagInteg}, []int{flags.APOptionMutualRequired})
	if err != nil {
		return nil, false, fmt.Errorf("building the AP-REQ for %s: %w", g.spn, err)
	}
	// Keep the authenticator as sent: the AP-REP must echo its time, and
	// its sequence number starts ours.
	if err := tok.APReq.DecryptAuthenticator(key); err != nil {
		return nil, false, fmt.Errorf("reading back the AP-REQ authenticator: %w", err)
	}
	b, err := tok.Marshal()
	if err != nil {
		return nil, false, fmt.Errorf("encoding the AP-REQ for %s: %w", g.spn, err)
	}
	g.key, g.auth = key, tok.APReq.Authenticator
	return b, false, nil
}

func (g *gssapiMechanism) step(challenge []byte) ([]byte, bool, error) {
	switch g.stage {
	case 0:
		if len(challenge) == 0 {
			return nil, false, errors.New("the metastore sent no AP-REP: mutual authentication failed")
		}
		sub, err := verifyAPRep(challenge, g.key, g.auth)
		if err != nil {
			return nil, false, err
		}
		g.subkey = sub
		g.stage = 1
		return []byte{}, false, nil
	case 1:
		wt, err := decodeWrapToken(challenge, true)
		if err != nil {
			return nil, false, fmt.Errorf("security layer offer: %w", err)
		}
		key, err := g.tokenKey(wt.Flags)
		if err != nil {
			return nil, false, err
		}
		if _, err := wt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
			return nil, false, fmt.Errorf("security layer offer does not verify with the session key: %w", err)
		}
		if len(wt.Payload) != 4 {
			return nil, false, fmt.Errorf("security layer offer of %d bytes, want 4", len(wt.Payload))
		}
		if offered := wt.Payload[0]; offered&layerNone == 0 {
			return nil, false, fmt.Errorf("the metastore requires a SASL security layer (%s); only authentication without a layer is supported: configure the metastore with hadoop.rpc.protection=authentication (QOP auth)", layerNames(offered))
		}
		// No security layer, so the maximum buffer size is 0 and no
		// authorization id is sent (the principal authenticates as
		// itself).
		reply, err := wrapInitiator([]byte{layerNone, 0, 0, 0}, g.replyKey(), g.subkey != nil, uint64(g.auth.SeqNumber))
		if err != nil {
			return nil, false, err
		}
		g.stage = 2
		return reply, true, nil
	default:
		return nil, false, errors.New("challenge after the negotiation completed")
	}
}

// tokenKey is the key protecting an acceptor token with these flags.
func (g *gssapiMechanism) tokenKey(f byte) (types.EncryptionKey, error) {
	if f&flagAcceptorSubkey != 0 {
		if g.subkey == nil {
			return types.EncryptionKey{}, errors.New("wrap token claims an acceptor subkey the AP-REP did not carry")
		}
		return *g.subkey, nil
	}
	return g.key, nil
}

func (g *gssapiMechanism) replyKey() types.EncryptionKey {
	if g.subkey != nil {
		return *g.subkey
	}
	return g.key
}

func layerNames(b byte) string {
	var s []string
	for _, l := range []struct {
		bit  byte
		name string
	}{{layerNone, "none"}, {layerIntegrity, "integrity"}, {layerPrivacy, "confidentiality"}} {
		if b&l.bit != 0 {
			s = append(s, l.name)
		}
	}
	if len(s) == 0 {
		return "offered: nothing"
	}
	return fmt.Sprintf("offered: %v", s)
}

func rfc4121Key(t int32) bool {
	switch t {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return true
	}
	return false
}

// verifyAPRep checks the acceptor's AP-REP token (RFC 4121 section 4.1):
// its encrypted part must decrypt with the session key and echo the
// authenticator's time. It returns the acceptor subkey, if any.
func verifyAPRep(b []byte, key types.EncryptionKey, auth types.Authenticator) (*types.EncryptionKey, error) {
	var tok spnego.KRB5Token
	if err := unmarshalKRB5Token(&tok, b); err != nil {
		return nil, fmt.Errorf("AP-REP token: %w", err)
	}
	switch {
	case tok.IsKRBError():
		return nil, fmt.Errorf("the metastore answered with a Kerberos error: %s", tok.KRBError.Error())
	case !tok.IsAPRep():
		return nil, errors.New("AP-REP token: the metastore sent another GSS-API token")
	}
	plain, err := crypto.DecryptEncPart(tok.APRep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("AP-REP does not decrypt with the session key: mutual authentication failed: %w", err)
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("AP-REP: %w", err)
	}
	if enc.CTime.Unix() != auth.CTime.Unix() || enc.Cusec != auth.Cusec {
		return nil, fmt.Errorf("AP-REP time %s does not match the authenticator's %s: mutual authentication failed",
			enc.CTime.Add(time.Duration(enc.Cusec)*time.Microsecond).UTC().Format(time.RFC3339Nano),
			auth.CTime.Add(time.Duration(auth.Cusec)*time.Microsecond).UTC().Format(time.RFC3339Nano))
	}
	if len(enc.Subkey.KeyValue) > 0 {
		if !rfc4121Key(enc.Subkey.KeyType) {
			return nil, fmt.Errorf("AP-REP subkey has encryption type %d: only AES is supported", enc.Subkey.KeyType)
		}
		return &enc.Subkey, nil
	}
	return nil, nil
}

// unmarshalKRB5Token decodes a GSS-API Kerberos token sent by the
// server; a panic in the ASN.1 decoder becomes an error.
func unmarshalKRB5Token(tok *spnego.KRB5Token, b []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed token: %v", r)
		}
	}()
	return tok.Unmarshal(b)
}

// decodeWrapToken parses an RFC 4121 wrap token without confidentiality
// (section 4.2.6.2), undoing the right rotation (RRC) of its data and
// checksum. fromAcceptor says who must have sent it.
func decodeWrapToken(b []byte, fromAcceptor bool) (*gssapi.WrapToken, error) {
	if len(b) < gssapi.HdrLen {
		return nil, fmt.Errorf("wrap token of %d bytes, shorter than its %d-byte header", len(b), gssapi.HdrLen)
	}
	if b[0] != 0x05 || b[1] != 0x04 {
		return nil, fmt.Errorf("not an RFC 4121 wrap token (id %#02x%02x, want 0x0504)", b[0], b[1])
	}
	if b[2]&flagSealed != 0 {
		return nil, errors.New("wrap token is sealed (confidentiality), which is not supported")
	}
	ec := int(binary.BigEndian.Uint16(b[4:6]))
	body := b[gssapi.HdrLen:]
	if ec > len(body) {
		return nil, fmt.Errorf("wrap token checksum of %d bytes in a %d-byte body", ec, len(body))
	}
	if rrc := int(binary.BigEndian.Uint16(b[6:8])); rrc != 0 && len(body) > 0 {
		rrc %= len(body)
		rot := make([]byte, 0, len(b))
		rot = append(rot, b[:gssapi.HdrLen]...)
		rot = append(rot, body[rrc:]...)
		rot = append(rot, body[:rrc]...)
		b = rot
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(b, fromAcceptor); err != nil {
		return nil, err
	}
	return &wt, nil
}

// wrapInitiator wraps payload in an initiator's wrap token without
// confidentiality, checksummed with key.
func wrapInitiator(payload []byte, key types.EncryptionKey, acceptorSubkey bool, seq uint64) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("wrap: %w", err)
	}
	wt := gssapi.WrapToken{EC: uint16(et.GetHMACBitLength() / 8), SndSeqNum: seq, Payload: payload}
	if acceptorSubkey {
		wt.Flags = flagAcceptorSubkey
	}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_INITIATOR_SEAL); err != nil {
		return nil, fmt.Errorf("wrap: %w", err)
	}
	return wt.Marshal()
}
