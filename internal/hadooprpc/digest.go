package hadooprpc

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DIGEST-MD5 (RFC 2831) as Hadoop uses it for TOKEN authentication: the
// user name is the base64 of the token identifier, the password the base64
// of the token password, the protocol empty and the server name and realm
// "default". Only the "auth" quality of protection is supported (no
// integrity or privacy wrapping of later messages).

// saslDefaultServer is SaslRpcServer.SASL_DEFAULT_REALM, the server id and
// realm of token authentication.
const saslDefaultServer = "default"

// parseDigestFields parses a DIGEST-MD5 challenge or response:
// comma-separated key=value pairs, values quoted (with backslash escapes)
// or bare. Repeated keys are an error except where the RFC allows them
// (realm in a challenge), of which the first is kept.
func parseDigestFields(b []byte) (map[string]string, error) {
	s := string(b)
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("digest-md5: malformed field %q", truncate(s, 40))
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var sb strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				sb.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("digest-md5: unterminated quoted value of %s", key)
			}
			val, s = sb.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val, s = strings.TrimSpace(s[:end]), s[end:]
		}
		if _, dup := out[key]; dup {
			if key == "realm" {
				continue
			}
			return nil, fmt.Errorf("digest-md5: field %s given twice", key)
		}
		out[key] = val
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// quote quotes a DIGEST-MD5 value.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// digestResponse computes the response (initial) or rspauth (!initial)
// value of RFC 2831 section 2.1.2.1 for qop=auth, algorithm md5-sess.
func digestResponse(user, realm, password, nonce, cnonce, nc, digestURI string, initial bool) string {
	h := md5.Sum([]byte(user + ":" + realm + ":" + password))
	a1 := string(h[:]) + ":" + nonce + ":" + cnonce
	a2 := ":" + digestURI
	if initial {
		a2 = "AUTHENTICATE" + a2
	}
	return md5Hex(md5Hex(a1) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + md5Hex(a2))
}

func randomNonce() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// tokenUser and tokenPassword are the SASL credentials of a token
// (SaslRpcServer.encodeIdentifier and encodePassword).
func tokenUser(t Token) string     { return base64.StdEncoding.EncodeToString(t.Identifier) }
func tokenPassword(t Token) string { return base64.StdEncoding.EncodeToString(t.Password) }

// digestClient is the client side of one DIGEST-MD5 exchange.
type digestClient struct {
	token              Token
	protocol, serverID string
	nonce, cnonce      string
	realm, uri         string
}

// respond answers the server's first challenge.
func (d *digestClient) respond(challenge []byte) ([]byte, error) {
	f, err := parseDigestFields(challenge)
	if err != nil {
		return nil, err
	}
	if f["nonce"] == "" {
		return nil, errors.New("digest-md5: the challenge has no nonce")
	}
	if alg := f["algorithm"]; alg != "md5-sess" {
		return nil, fmt.Errorf("digest-md5: the challenge asks for algorithm %q, want md5-sess", alg)
	}
	qops := strings.Split(f["qop"], ",")
	if f["qop"] == "" {
		qops = []string{"auth"}
	}
	for i := range qops {
		qops[i] = strings.TrimSpace(qops[i])
	}
	if !slices.Contains(qops, "auth") {
		return nil, fmt.Errorf("digest-md5: the server requires quality of protection %s (hadoop.rpc.protection integrity or privacy); only authentication is supported", strings.Join(qops, ","))
	}
	d.nonce, d.cnonce, d.realm = f["nonce"], randomNonce(), f["realm"]
	d.uri = d.protocol + "/" + d.serverID
	user := tokenUser(d.token)
	resp := digestResponse(user, d.realm, tokenPassword(d.token), d.nonce, d.cnonce, "00000001", d.uri, true)
	return fmt.Appendf(nil, "charset=utf-8,username=%s,realm=%s,nonce=%s,nc=00000001,cnonce=%s,digest-uri=%s,maxbuf=65536,response=%s,qop=auth",
		quote(user), quote(d.realm), quote(d.nonce), quote(d.cnonce), quote(d.uri), resp), nil
}

// verify checks the server's rspauth.
func (d *digestClient) verify(final []byte) error {
	f, err := parseDigestFields(final)
	if err != nil {
		return err
	}
	want := digestResponse(tokenUser(d.token), d.realm, tokenPassword(d.token), d.nonce, d.cnonce, "00000001", d.uri, false)
	if subtle.ConstantTimeCompare([]byte(f["rspauth"]), []byte(want)) != 1 {
		return errors.New("digest-md5: the server's rspauth does not match: it does not know the token's password")
	}
	return nil
}

// digestServer is the server side of one DIGEST-MD5 exchange.
type digestServer struct {
	nonce string
}

func (d *digestServer) challenge() []byte {
	d.nonce = randomNonce()
	return fmt.Appendf(nil, `realm=%s,nonce=%s,qop="auth",charset=utf-8,algorithm=md5-sess`, quote(saslDefaultServer), quote(d.nonce))
}

// errBadDigest is a response whose digest does not match the token.
var errBadDigest = errors.New("DIGEST-MD5: digest response format violation. Mismatched response.")

// check verifies a client response with the password lookup of the
// identifier; it returns the identifier and the rspauth to send.
func (d *digestServer) check(response []byte, lookup func(identifier []byte) ([]byte, error)) ([]byte, []byte, error) {
	f, err := parseDigestFields(response)
	if err != nil {
		return nil, nil, err
	}
	if f["nonce"] != d.nonce {
		return nil, nil, errors.New("DIGEST-MD5: digest response format violation. Mismatched nonce.")
	}
	if q := f["qop"]; q != "" && q != "auth" {
		return nil, nil, fmt.Errorf("DIGEST-MD5: qop %q was not offered", q)
	}
	if uri := "/" + saslDefaultServer; f["digest-uri"] != uri {
		return nil, nil, fmt.Errorf("DIGEST-MD5: digest-uri %q, want %q", f["digest-uri"], uri)
	}
	id, err := base64.StdEncoding.DecodeString(f["username"])
	if err != nil || len(id) == 0 {
		return nil, nil, errors.New("DIGEST-MD5: the user name is not a base64 token identifier")
	}
	pw, err := lookup(id)
	if err != nil {
		return nil, nil, err
	}
	t := Token{Identifier: id, Password: pw}
	want := digestResponse(f["username"], f["realm"], tokenPassword(t), d.nonce, f["cnonce"], f["nc"], f["digest-uri"], true)
	if subtle.ConstantTimeCompare([]byte(f["response"]), []byte(want)) != 1 {
		return nil, nil, errBadDigest
	}
	rsp := digestResponse(f["username"], f["realm"], tokenPassword(t), d.nonce, f["cnonce"], f["nc"], f["digest-uri"], false)
	return id, []byte("rspauth=" + rsp), nil
}
