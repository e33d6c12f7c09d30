package hive

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestServicePrincipal(t *testing.T) {
	tests := []struct {
		pattern, host      string
		wantSPN, wantRealm string
		wantErr            string
	}{
		{"hive/_HOST@EXAMPLE.COM", "HMS1.Example.com", "hive/hms1.example.com", "EXAMPLE.COM", ""},
		{"hive/_HOST", "localhost", "hive/localhost", "", ""},
		{"hive/fixed.example.com@R", "other", "hive/fixed.example.com", "R", ""},
		{" hive/_HOST@R ", "h", "hive/h", "R", ""},
		{"", "h", "", "", "needs the metastore's service principal"},
		{"hive@EXAMPLE.COM", "h", "", "", `"hive@EXAMPLE.COM": want SERVICE/HOST[@REALM]`},
		{"/_HOST@R", "h", "", "", "want SERVICE/HOST"},
		{"hive/a/b@R", "h", "", "", "want SERVICE/HOST"},
		{"hive/_HOST@R@S", "h", "", "", "want SERVICE/HOST"},
		{"hive/_HOST@R", "", "", "", "no host name to replace _HOST"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			spn, realm, err := servicePrincipal(tc.pattern, tc.host)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || spn != tc.wantSPN || realm != tc.wantRealm {
				t.Fatalf("got %q %q %v, want %q %q", spn, realm, err, tc.wantSPN, tc.wantRealm)
			}
		})
	}
}

func testKey(t testing.TB, b byte) types.EncryptionKey {
	t.Helper()
	return types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{b}, 32)}
}

// acceptorToken wraps payload as an acceptor would (flags 0x01), with
// its data and checksum rotated right by rrc.
func acceptorToken(t testing.TB, key types.EncryptionKey, payload []byte, rrc int) []byte {
	t.Helper()
	wt := gssapi.WrapToken{Flags: flagSentByAcceptor, EC: 12, SndSeqNum: 7, Payload: payload}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		t.Fatal(err)
	}
	b, err := wt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if rrc > 0 {
		body := b[16:]
		n := len(body)
		rot := append(append([]byte{}, body[n-rrc%n:]...), body[:n-rrc%n]...)
		b = append(b[:16:16], rot...)
		binary.BigEndian.PutUint16(b[6:8], uint16(rrc))
	}
	return b
}

func TestDecodeWrapToken(t *testing.T) {
	key := testKey(t, 1)
	offer := []byte{layerNone | layerIntegrity, 0, 0x10, 0}
	for _, rrc := range []int{0, 3, 12, 16, 40} {
		wt, err := decodeWrapToken(acceptorToken(t, key, offer, rrc), true)
		if err != nil {
			t.Fatalf("rrc %d: %v", rrc, err)
		}
		if ok, err := wt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SEAL); !ok || !bytes.Equal(wt.Payload, offer) {
			t.Fatalf("rrc %d: payload %x, verify %v", rrc, wt.Payload, err)
		}
	}
	good := acceptorToken(t, key, offer, 0)
	sealed := append([]byte{}, good...)
	sealed[2] |= flagSealed
	longEC := append([]byte{}, good...)
	binary.BigEndian.PutUint16(longEC[4:6], 500)
	bad := []struct {
		name    string
		b       []byte
		wantErr string
	}{
		{"empty", nil, "shorter than its 16-byte header"},
		{"MIC token id", append([]byte{0x04, 0x04}, good[2:]...), "not an RFC 4121 wrap token"},
		{"sealed", sealed, "sealed (confidentiality)"},
		{"checksum longer than body", longEC, "checksum of 500 bytes"},
	}
	for _, tc := range bad {
		if _, err := decodeWrapToken(tc.b, true); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if _, err := decodeWrapToken(good, false); err == nil {
		t.Error("an acceptor token was taken for an initiator's")
	}
}

// TestGSSAPIStepChecks drives the client mechanism past the AP-REP with
// hand-made security layer offers.
func TestGSSAPIStepChecks(t *testing.T) {
	key := testKey(t, 1)
	tests := []struct {
		name    string
		token   []byte
		wantErr string
	}{
		{"offer under another key", acceptorToken(t, testKey(t, 2), []byte{1, 0, 0, 0}, 0), "does not verify with the session key"},
		{"offer too long", acceptorToken(t, key, []byte{1, 0, 0, 0, 9}, 0), "offer of 5 bytes"},
		{"integrity only", acceptorToken(t, key, []byte{layerIntegrity, 0, 0x10, 0}, 0), "requires a SASL security layer (offered: [integrity])"},
	}
	for _, tc := range tests {
		g := &gssapiMechanism{key: key, stage: 1, auth: types.Authenticator{SeqNumber: 42}}
		if _, _, err := g.step(tc.token); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	g := &gssapiMechanism{key: key, stage: 1, auth: types.Authenticator{SeqNumber: 42}}
	reply, done, err := g.step(acceptorToken(t, key, []byte{layerNone | layerIntegrity | layerPrivacy, 0, 0x10, 0}, 0))
	if err != nil || !done {
		t.Fatalf("done %v, err %v", done, err)
	}
	var wt gssapi.WrapToken
	if err := wt.Unmarshal(reply, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := wt.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok {
		t.Fatalf("reply does not verify: %v", err)
	}
	if !bytes.Equal(wt.Payload, []byte{layerNone, 0, 0, 0}) || wt.SndSeqNum != 42 || wt.Flags != 0 {
		t.Fatalf("reply payload %x seq %d flags %x, want 01000000, 42, 0", wt.Payload, wt.SndSeqNum, wt.Flags)
	}
	if _, _, err := g.step(nil); err == nil {
		t.Fatal("a challenge after completion was accepted")
	}
}

func TestVerifyAPRepRejects(t *testing.T) {
	key := testKey(t, 1)
	auth := types.Authenticator{CTime: time.Unix(1700000000, 0).UTC(), Cusec: 5}
	for _, tc := range []struct {
		name, wantErr string
		b             []byte
	}{
		{"empty", "AP-REP token", nil},
		{"not ASN.1", "AP-REP token", []byte("garbage")},
		{"wrap token instead", "AP-REP token", acceptorToken(t, key, []byte{1, 0, 0, 0}, 0)},
	} {
		if _, err := verifyAPRep(tc.b, key, auth); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if _, err := crypto.GetEtype(key.KeyType); err != nil {
		t.Fatal(err)
	}
}

// FuzzGSSAPIServerTokens feeds arbitrary server tokens to the decoders
// of the client mechanism: the AP-REP and the security layer offer. They
// must return an error or a result, never panic.
func FuzzGSSAPIServerTokens(f *testing.F) {
	key := testKey(f, 1)
	f.Add(acceptorToken(f, key, []byte{1, 0, 0, 0}, 0))
	f.Add(acceptorToken(f, key, []byte{7, 0, 0x10, 0}, 5))
	f.Add([]byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x02, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		auth := types.Authenticator{CTime: time.Unix(1700000000, 0).UTC(), SeqNumber: 1}
		_, _ = verifyAPRep(b, key, auth)
		_, _ = decodeWrapToken(b, true)
		g := &gssapiMechanism{key: key, stage: 1, auth: auth}
		_, _, _ = g.step(b)
		g = &gssapiMechanism{key: key, stage: 0, auth: auth}
		_, _, _ = g.step(b)
	})
}

// FuzzSASLFrames feeds arbitrary server bytes to the SASL transport's
// negotiation and data frame readers.
func FuzzSASLFrames(f *testing.F) {
	f.Add([]byte{saslComplete, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{saslError, 0, 0, 0, 5, 'n', 'o', '\n', 0, 1})
	f.Add([]byte{saslOK, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		tr := &saslTransport{under: thrift.NewStreamTransportR(r), mech: plainMechanism{}}
		if _, _, err := tr.readNeg("PLAIN"); err != nil {
			return
		}
		buf := make([]byte, 64)
		for i := 0; i < 8; i++ {
			if _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
}
