package hadooprpc_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/hadooprpc/rpcheaderpb"
)

// password derives a token password as Hadoop's SecretManager does
// (HMAC-SHA1 of the identifier with the master key).
func password(key, id []byte) []byte {
	m := hmac.New(sha1.New, key)
	m.Write(id)
	return m.Sum(nil)
}

// serveTokens serves h requiring tokens issued with key; only identifiers
// starting with "app" are known.
func serveTokens(t *testing.T, key []byte, h hadooprpc.Handler) string {
	t.Helper()
	opts := hadooprpc.ServeOptions{Tokens: func(id []byte) ([]byte, error) {
		if !bytes.HasPrefix(id, []byte("app")) {
			return nil, &hadooprpc.RemoteError{Class: hadooprpc.ExInvalidToken, Message: "unknown token " + string(id)}
		}
		return password(key, id), nil
	}}
	return serveWith(t, h, opts)
}

// whoami answers with the token identifier and user of the connection.
func whoami(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
	return &pb.UserInformationProto{EffectiveUser: proto.String(string(call.TokenIdentifier)), RealUser: proto.String(call.User)}, nil
}

func TestTokenAuthentication(t *testing.T) {
	key := []byte("master key")
	addr := serveTokens(t, key, whoami)
	id := []byte("app_1_0001 attempt 1")
	tok := hadooprpc.Token{Identifier: id, Password: password(key, id), Kind: "YARN_AM_RM_TOKEN", Service: addr}
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "alice", Token: &tok})
	defer c.Close()
	for range 2 {
		var resp pb.UserInformationProto
		if err := c.Call(context.Background(), "whoami", &pb.UserInformationProto{}, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.GetEffectiveUser() != string(id) {
			t.Fatalf("server saw token %q, want %q", resp.GetEffectiveUser(), id)
		}
	}
}

func TestTokenRefusals(t *testing.T) {
	key := []byte("master key")
	addr := serveTokens(t, key, whoami)
	id := []byte("app_1_0001")
	for _, tc := range []struct {
		name  string
		token *hadooprpc.Token
		class string
		msg   string
	}{
		{"no token", nil, hadooprpc.ExAccessControl, "SIMPLE authentication is not enabled"},
		{"wrong password", &hadooprpc.Token{Identifier: id, Password: password([]byte("other key"), id)}, hadooprpc.ExSasl, "Mismatched response"},
		{"unknown identifier", &hadooprpc.Token{Identifier: []byte("nope"), Password: password(key, []byte("nope"))}, hadooprpc.ExInvalidToken, "unknown token nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", User: "alice", Token: tc.token})
			defer c.Close()
			err := c.Call(context.Background(), "whoami", &pb.UserInformationProto{}, &pb.UserInformationProto{})
			var re *hadooprpc.RemoteError
			if !errors.As(err, &re) || re.Class != tc.class || !strings.Contains(re.Message, tc.msg) || !re.Fatal {
				t.Fatalf("got %v, want a fatal %s containing %q", err, tc.class, tc.msg)
			}
		})
	}
}

func TestTokenClientAgainstSimpleServer(t *testing.T) {
	addr := serve(t, echo)
	tok := hadooprpc.Token{Identifier: []byte("app"), Password: []byte("pw")}
	c := hadooprpc.NewConn(addr, hadooprpc.Options{Protocol: "p", Token: &tok})
	defer c.Close()
	err := c.Call(context.Background(), "echo", &pb.UserInformationProto{}, &pb.UserInformationProto{})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("got %v, want an error naming %s", err, addr)
	}
}

func TestCredentialsRoundTrip(t *testing.T) {
	c := &hadooprpc.Credentials{Secrets: map[string][]byte{"s": bytes.Repeat([]byte{7}, 300)}}
	c.AddToken("am", hadooprpc.Token{Identifier: bytes.Repeat([]byte{1}, 200), Password: []byte("pw"), Kind: "YARN_AM_RM_TOKEN", Service: "rm:8030"})
	c.AddToken("hdfs", hadooprpc.Token{Identifier: []byte{}, Password: []byte{}, Kind: "HDFS_DELEGATION_TOKEN", Service: "ha-hdfs:nn"})
	b := c.Marshal()
	if string(b[:5]) != "HDTS\x00" {
		t.Fatalf("header %q", b[:5])
	}
	got, err := hadooprpc.ParseCredentials(b)
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok := got.TokenOfKind("YARN_AM_RM_TOKEN"); !ok || !bytes.Equal(tok.Identifier, c.Tokens["am"].Identifier) || tok.Service != "rm:8030" || string(tok.Password) != "pw" {
		t.Fatalf("AMRMToken: %+v %v", tok, ok)
	}
	if h := got.Tokens["hdfs"]; h.Kind != "HDFS_DELEGATION_TOKEN" || h.Service != "ha-hdfs:nn" {
		t.Fatalf("hdfs token: %+v", h)
	}
	if !bytes.Equal(got.Secrets["s"], c.Secrets["s"]) {
		t.Fatal("secret differs")
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatal("re-encoding differs")
	}
}

// The protobuf form (version 1) as Hadoop 3 writes it:
// CredentialsProto.writeDelimitedTo.
func TestCredentialsProtobufForm(t *testing.T) {
	m := &pb.CredentialsProto{
		Tokens: []*pb.CredentialsKVProto{{Alias: proto.String("a"), Token: &pb.TokenProto{
			Identifier: []byte("id"), Password: []byte("pw"), Kind: proto.String("NMToken"), Service: proto.String("h:1")}}},
		Secrets: []*pb.CredentialsKVProto{{Alias: proto.String("k"), Secret: []byte("v")}},
	}
	b, err := hadooprpc.AppendDelimited([]byte("HDTS\x01"), m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hadooprpc.ParseCredentials(b)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Tokens["a"]; tok.Kind != "NMToken" || string(tok.Identifier) != "id" || tok.Service != "h:1" || string(c.Secrets["k"]) != "v" {
		t.Fatalf("got %+v", c)
	}
}

// Hand-written Writable bytes, with a length above 127 (a two-byte
// WritableUtils vint: 0x8f = -113, then one byte).
func TestCredentialsWritableBytes(t *testing.T) {
	id := bytes.Repeat([]byte{'x'}, 200)
	b := []byte("HDTS\x00\x01\x01a\x8f\xc8")
	b = append(b, id...)
	b = append(b, 2, 'p', 'w', 1, 'K', 0, 0)
	c, err := hadooprpc.ParseCredentials(b)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Tokens["a"]; !bytes.Equal(tok.Identifier, id) || string(tok.Password) != "pw" || tok.Kind != "K" || tok.Service != "" {
		t.Fatalf("got %+v", tok)
	}
}

func TestCredentialsErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", "no HDTS header"},
		{"HDTS", "no HDTS header"},
		{"HDTS\x07", "unknown format version 7"},
		{"HDTS\x00", "number of tokens at byte 5: input ends"},
		{"HDTS\x00\x01\x01a\x05ab", "token identifier at byte 9: length 5 with 2 bytes left"},
		{"HDTS\x00\x8c", "input ends inside"},
		{"HDTS\x00\xff", "out of range"},
		{"HDTS\x01\x05ab", "cut length prefix"},
	} {
		_, err := hadooprpc.ParseCredentials([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	c := &hadooprpc.Credentials{Secrets: map[string][]byte{"s": []byte("v")}}
	c.AddToken("am", hadooprpc.Token{Identifier: []byte("id"), Password: []byte("pw"), Kind: "K", Service: "S"})
	f.Add(c.Marshal())
	f.Add([]byte("HDTS\x01\x04\x0a\x02\x0a\x00"))
	f.Add([]byte("HDTS\x00\x8c\x01\x02\x03\x04"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := hadooprpc.ParseCredentials(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to a form that decodes to the same.
		again, err := hadooprpc.ParseCredentials(c.Marshal())
		if err != nil {
			t.Fatalf("re-encoded credentials do not parse: %v", err)
		}
		if !bytes.Equal(again.Marshal(), c.Marshal()) {
			t.Fatal("round trip differs")
		}
	})
}
