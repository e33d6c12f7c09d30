package hadooprpc

import (
	"strings"
	"testing"
)

// The example exchange of RFC 2831 section 4 (md5-sess, qop=auth).
func TestDigestRFC2831Example(t *testing.T) {
	const nonce, cnonce, uri = "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "imap/elwood.innosoft.com"
	if got := digestResponse("chris", "elwood.innosoft.com", "secret", nonce, cnonce, "00000001", uri, true); got != "d388dad90d4bbd760a152321f2143af7" {
		t.Errorf("response = %s", got)
	}
	if got := digestResponse("chris", "elwood.innosoft.com", "secret", nonce, cnonce, "00000001", uri, false); got != "ea40f60335c427b5527b84dbabcdfffd" {
		t.Errorf("rspauth = %s", got)
	}
}

func TestDigestExchange(t *testing.T) {
	tok := Token{Identifier: []byte("id"), Password: []byte("pw")}
	var s digestServer
	c := &digestClient{token: tok, protocol: "", serverID: saslDefaultServer}
	resp, err := c.respond(s.challenge())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`username="aWQ="`, `realm="default"`, `digest-uri="/default"`, `qop=auth`, `nc=00000001`} {
		if !strings.Contains(string(resp), f) {
			t.Errorf("response %s lacks %s", resp, f)
		}
	}
	id, rspauth, err := s.check(resp, func([]byte) ([]byte, error) { return tok.Password, nil })
	if err != nil || string(id) != "id" {
		t.Fatalf("check: %q %v", id, err)
	}
	if err := c.verify(rspauth); err != nil {
		t.Fatal(err)
	}
	if err := c.verify([]byte("rspauth=00000000000000000000000000000000")); err == nil {
		t.Fatal("a wrong rspauth was accepted")
	}
	if _, _, err := s.check(resp, func([]byte) ([]byte, error) { return []byte("other"), nil }); err != errBadDigest {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestDigestChallengeErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`realm="default",nonce="n",qop="auth-conf",charset=utf-8,algorithm=md5-sess`, "only authentication is supported"},
		{`realm="default",qop="auth",algorithm=md5-sess`, "no nonce"},
		{`nonce="n",algorithm=md5`, "want md5-sess"},
		{`nonce="n`, "unterminated"},
		{`nonce`, "malformed"},
		{`nonce="a",nonce="b"`, "twice"},
	} {
		c := &digestClient{serverID: saslDefaultServer}
		if _, err := c.respond([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseDigestFields(f *testing.F) {
	f.Add([]byte(`realm="default",nonce="a\"b",qop="auth,auth-int",charset=utf-8,algorithm=md5-sess`))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseDigestFields(b)
	})
}
