package hadooprpc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// Token is a Hadoop token (org.apache.hadoop.security.token.Token): an
// opaque identifier, the password the issuer derived from it, its kind
// (e.g. YARN_AM_RM_TOKEN, NMToken, HDFS_DELEGATION_TOKEN) and the service
// (usually HOST:PORT) it is for.
type Token struct {
	Identifier []byte
	Password   []byte
	Kind       string
	Service    string
}

// Credentials are Hadoop's Credentials: tokens and secret keys by alias,
// as in the file HADOOP_TOKEN_FILE_LOCATION names in a YARN container and
// in ContainerLaunchContextProto.tokens.
type Credentials struct {
	Tokens  map[string]Token
	Secrets map[string][]byte
}

// TokenOfKind returns a token of the given kind (the one with the smallest
// alias when there are several).
func (c *Credentials) TokenOfKind(kind string) (Token, bool) {
	if c == nil {
		return Token{}, false
	}
	aliases := make([]string, 0, len(c.Tokens))
	for a, t := range c.Tokens {
		if t.Kind == kind {
			aliases = append(aliases, a)
		}
	}
	if len(aliases) == 0 {
		return Token{}, false
	}
	slices.Sort(aliases)
	return c.Tokens[aliases[0]], true
}

// AddToken adds (or replaces) a token under alias.
func (c *Credentials) AddToken(alias string, t Token) {
	if c.Tokens == nil {
		c.Tokens = make(map[string]Token)
	}
	c.Tokens[alias] = t
}

// The token storage header: magic and format versions.
const (
	credentialsMagic    = "HDTS"
	credentialsWritable = 0 // Writable fields, readable by Hadoop 2 and 3
	credentialsProtobuf = 1 // CredentialsProto, varint-delimited (Hadoop 3)
)

// maxCredentialsItems bounds the number of entries a decoder accepts.
const maxCredentialsItems = 1 << 16

// ReadCredentialsFile reads a token storage file (Hadoop's
// Credentials.readTokenStorageFile), e.g. $HADOOP_TOKEN_FILE_LOCATION.
func ReadCredentialsFile(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hadooprpc: reading credentials: %w", err)
	}
	c, err := ParseCredentials(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return c, nil
}

// ParseCredentials decodes Hadoop's token storage format: "HDTS", a
// format byte, then the Writable (0) or the protobuf (1) form.
func ParseCredentials(b []byte) (*Credentials, error) {
	if len(b) < 5 || string(b[:4]) != credentialsMagic {
		return nil, errors.New("hadooprpc: credentials: not a Hadoop token storage (no HDTS header)")
	}
	c := &Credentials{Tokens: map[string]Token{}, Secrets: map[string][]byte{}}
	var err error
	switch b[4] {
	case credentialsWritable:
		err = c.readWritable(&writableReader{b: b[5:], off: 5})
	case credentialsProtobuf:
		err = c.readProto(b[5:])
	default:
		err = fmt.Errorf("unknown format version %d", b[4])
	}
	if err != nil {
		return nil, fmt.Errorf("hadooprpc: credentials: %w", err)
	}
	return c, nil
}

func (c *Credentials) readProto(b []byte) error {
	var m pb.CredentialsProto
	n, l := protowire.ConsumeVarint(b)
	if l < 0 || uint64(len(b)-l) < n {
		return errors.New("protobuf form: bad or cut length prefix")
	}
	if err := proto.Unmarshal(b[l:l+int(n)], &m); err != nil {
		return fmt.Errorf("protobuf form: %w", err)
	}
	for _, kv := range m.GetTokens() {
		t := kv.GetToken()
		c.Tokens[kv.GetAlias()] = Token{Identifier: t.GetIdentifier(), Password: t.GetPassword(), Kind: t.GetKind(), Service: t.GetService()}
	}
	for _, kv := range m.GetSecrets() {
		c.Secrets[kv.GetAlias()] = kv.GetSecret()
	}
	return nil
}

func (c *Credentials) readWritable(r *writableReader) error {
	n := r.count("tokens")
	for range n {
		alias := r.text("token alias")
		var t Token
		t.Identifier = r.bytes("token identifier")
		t.Password = r.bytes("token password")
		t.Kind = r.text("token kind")
		t.Service = r.text("token service")
		if r.err != nil {
			return r.err
		}
		c.Tokens[alias] = t
	}
	n = r.count("secret keys")
	for range n {
		alias := r.text("secret alias")
		v := r.bytes("secret")
		if r.err != nil {
			return r.err
		}
		c.Secrets[alias] = v
	}
	return r.err
}

// Marshal encodes the credentials in the Writable token storage format
// (version 0), which Hadoop 2 and 3 both read, with aliases in order.
func (c *Credentials) Marshal() []byte {
	out := []byte(credentialsMagic + "\x00")
	aliases := make([]string, 0, len(c.Tokens))
	for a := range c.Tokens {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	out = appendVLong(out, int64(len(aliases)))
	for _, a := range aliases {
		t := c.Tokens[a]
		out = appendWritableBytes(out, []byte(a))
		out = appendWritableBytes(out, t.Identifier)
		out = appendWritableBytes(out, t.Password)
		out = appendWritableBytes(out, []byte(t.Kind))
		out = appendWritableBytes(out, []byte(t.Service))
	}
	aliases = aliases[:0]
	for a := range c.Secrets {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	out = appendVLong(out, int64(len(aliases)))
	for _, a := range aliases {
		out = appendWritableBytes(out, []byte(a))
		out = appendWritableBytes(out, c.Secrets[a])
	}
	return out
}

// writableReader decodes Hadoop Writable fields; the first error sticks.
type writableReader struct {
	b   []byte
	off int // offset of b in the input, for errors
	err error
}

func (r *writableReader) fail(what string, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at byte %d: %s", what, r.off, fmt.Sprintf(format, args...))
	}
}

// vlong reads WritableUtils.readVLong's zero-compressed integer.
func (r *writableReader) vlong(what string) int64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail(what, "input ends")
		return 0
	}
	first := int8(r.b[0])
	size := 1
	switch {
	case first < -120:
		size = -119 - int(first)
	case first < -112:
		size = -111 - int(first)
	}
	if size == 1 {
		r.b, r.off = r.b[1:], r.off+1
		return int64(first)
	}
	if len(r.b) < size {
		r.fail(what, "input ends inside a %d-byte integer", size)
		return 0
	}
	var v int64
	for _, x := range r.b[1:size] {
		v = v<<8 | int64(x)
	}
	if first < -120 {
		v = ^v
	}
	r.b, r.off = r.b[size:], r.off+size
	return v
}

func (r *writableReader) count(what string) int {
	n := r.vlong("number of " + what)
	if n < 0 || n > maxCredentialsItems {
		r.fail("number of "+what, "%d out of range", n)
		return 0
	}
	return int(n)
}

func (r *writableReader) bytes(what string) []byte {
	n := r.vlong("length of " + what)
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)) {
		r.fail(what, "length %d with %d bytes left", n, len(r.b))
		return nil
	}
	v := bytes.Clone(r.b[:n])
	r.b, r.off = r.b[n:], r.off+int(n)
	return v
}

func (r *writableReader) text(what string) string { return string(r.bytes(what)) }

// appendVLong appends WritableUtils.writeVLong's encoding of v.
func appendVLong(dst []byte, v int64) []byte {
	if v >= -112 && v <= 127 {
		return append(dst, byte(v))
	}
	l := -112
	if v < 0 {
		v = ^v
		l = -120
	}
	for t := v; t != 0; t >>= 8 {
		l--
	}
	dst = append(dst, byte(int8(l)))
	n := -(l + 112)
	if l < -120 {
		n = -(l + 120)
	}
	for i := n; i > 0; i-- {
		dst = append(dst, byte(v>>((i-1)*8)))
	}
	return dst
}

func appendWritableBytes(dst, b []byte) []byte {
	return append(appendVLong(dst, int64(len(b))), b...)
}
