package hivetest

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Kerberos stands in for a KDC in tests: it holds a service's key
// (derived from a password, aes256-cts-hmac-sha1-96, kvno 1) and mints
// tickets for that service straight into a credential cache file, the
// way kinit plus a TGS exchange would leave one. No KDC is involved: a
// client using the cache finds the service ticket there and never asks
// for one.
type Kerberos struct {
	// Realm is the realm of the client and the service, e.g. "EXAMPLE.COM".
	Realm string
	// Service is the service principal without realm, e.g.
	// "hive/localhost".
	Service string
	// Keytab holds the service key; give it to Options.Kerberos to make
	// the metastore accept the tickets.
	Keytab *keytab.Keytab
}

// NewKerberos derives the key of service@realm from password.
func NewKerberos(realm, service, password string) (*Kerberos, error) {
	kt := keytab.New()
	if err := kt.AddEntry(service, realm, password, time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		return nil, fmt.Errorf("hivetest: service key: %w", err)
	}
	return &Kerberos{Realm: realm, Service: service, Keytab: kt}, nil
}

// WriteKeytab writes the service keytab to path (mode 0600).
func (k *Kerberos) WriteKeytab(path string) error {
	b, err := k.Keytab.Marshal()
	if err != nil {
		return fmt.Errorf("hivetest: keytab: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// WriteKrb5Conf writes a krb5.conf naming realm as the default realm,
// with a KDC address nothing listens on (the tests need none).
func WriteKrb5Conf(path, realm string) error {
	conf := fmt.Sprintf(`[libdefaults]
  default_realm = %[1]s
  dns_lookup_kdc = false
  dns_lookup_realm = false
  udp_preference_limit = 1
[realms]
  %[1]s = {
    kdc = 127.0.0.1:1
  }
`, realm)
	return os.WriteFile(path, []byte(conf), 0o600)
}

// Ticket says what WriteCCache mints.
type Ticket struct {
	// Client is the client principal without realm, e.g. "alice".
	Client string
	// Start and End bound the service ticket's validity as the service
	// checks it (default: a minute ago to an hour from now).
	Start, End time.Time
	// CacheEnd is the end time the credential cache records for the
	// tickets, which is what the client checks (default End).
	CacheEnd time.Time
}

// WriteCCache writes a version 4 credential cache for t.Client holding a
// TGT (encrypted with a random key nobody verifies) and a service ticket
// for k.Service encrypted with the service key.
func (k *Kerberos) WriteCCache(path string, t Ticket) error {
	now := time.Now().UTC().Truncate(time.Second)
	if t.Start.IsZero() {
		t.Start = now.Add(-time.Minute)
	}
	if t.End.IsZero() {
		t.End = now.Add(time.Hour)
	}
	if t.CacheEnd.IsZero() {
		t.CacheEnd = t.End
	}
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, t.Client)
	tgtName := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", k.Realm}}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	tgtKT := keytab.New()
	if err := tgtKT.AddEntry("krbtgt/"+k.Realm, k.Realm, fmt.Sprintf("%x", pw), now, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		return fmt.Errorf("hivetest: krbtgt key: %w", err)
	}
	flags := types.NewKrbFlags()
	tgt, tgtKey, err := messages.NewTicket(cname, k.Realm, tgtName, k.Realm, flags, tgtKT, etypeID.AES256_CTS_HMAC_SHA1_96, 1, t.Start, t.Start, t.End, t.End)
	if err != nil {
		return fmt.Errorf("hivetest: TGT: %w", err)
	}
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, k.Service)
	svc, svcKey, err := messages.NewTicket(cname, k.Realm, sname, k.Realm, flags, k.Keytab, etypeID.AES256_CTS_HMAC_SHA1_96, 1, t.Start, t.Start, t.End, t.End)
	if err != nil {
		return fmt.Errorf("hivetest: service ticket: %w", err)
	}
	var b bytes.Buffer
	be := func(v any) { _ = binary.Write(&b, binary.BigEndian, v) }
	data := func(p []byte) { be(uint32(len(p))); b.Write(p) }
	principal := func(p types.PrincipalName) {
		be(uint32(p.NameType))
		be(uint32(len(p.NameString)))
		data([]byte(k.Realm))
		for _, c := range p.NameString {
			data([]byte(c))
		}
	}
	cred := func(server types.PrincipalName, tkt messages.Ticket, key types.EncryptionKey) error {
		raw, err := tkt.Marshal()
		if err != nil {
			return fmt.Errorf("hivetest: ticket: %w", err)
		}
		principal(cname)
		principal(server)
		be(uint16(key.KeyType))
		data(key.KeyValue)
		for _, ts := range []time.Time{t.Start, t.Start, t.CacheEnd, t.CacheEnd} {
			be(uint32(ts.Unix()))
		}
		b.WriteByte(0)           // is_skey
		b.Write(flags.Bytes[:4]) // ticket flags
		be(uint32(0))            // addresses
		be(uint32(0))            // authdata
		data(raw)                // ticket
		data(nil)                // second ticket
		return nil
	}
	be(uint16(0x0504)) // version 4
	be(uint16(0))      // no header fields
	principal(cname)
	if err := cred(tgtName, tgt, tgtKey); err != nil {
		return err
	}
	if err := cred(sname, svc, svcKey); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// marshalAPRep builds the KRB-AP-REP for an authenticator (ctime, cusec)
// under the session key, carrying seq as the acceptor's sequence number.
func marshalAPRep(ctime time.Time, cusec int, seq int64, key types.EncryptionKey) ([]byte, error) {
	enc := messages.EncAPRepPart{CTime: ctime, Cusec: cusec, SequenceNumber: seq}
	eb, err := asn1.Marshal(enc)
	if err != nil {
		return nil, err
	}
	eb = asn1tools.AddASNAppTag(eb, 27)
	ed, err := encryptAPRepPart(eb, key)
	if err != nil {
		return nil, err
	}
	rep := messages.APRep{PVNO: 5, MsgType: 15, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(rb, 15), nil
}

// gssToken frames a Kerberos message as a GSS-API token (RFC 2743
// section 3.1, RFC 4121 section 4.1): [APPLICATION 0] { krb5 OID, token
// id, message }.
func gssToken(tokID [2]byte, msg []byte) []byte {
	oid, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2})
	inner := append(append(oid, tokID[:]...), msg...)
	return asn1tools.AddASNAppTag(inner, 0)
}
