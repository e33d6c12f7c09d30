package gossipkey

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/memberlist"
)

// ParseKeys decodes a --gossip-key value: comma-separated base64 keys,
// the first being the primary. Errors name the key by position, never by
// value.
func ParseKeys(s string) ([][]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("gossipkey: no key given")
	}
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("gossipkey: key %d of %d is empty", i+1, strings.Count(s, ",")+1)
		}
		k, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("gossipkey: key %d %w", i+1, err)
		}
		for j, prev := range keys {
			if bytes.Equal(prev, k) {
				return nil, fmt.Errorf("gossipkey: key %d repeats key %d", i+1, j+1)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// decodeKey decodes one base64 key; errors continue "key N ...".
func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("is not standard base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("is %d bytes, want 16, 24 or 32", len(k))
	}
	return k, nil
}

// ParseKeyFile decodes a --gossip-key-file: one base64 key per line, the
// first being the primary; blank lines are ignored and '#' starts a
// comment. name is used in errors, which name the file and line but
// never a key.
func ParseKeyFile(r io.Reader, name string) ([][]byte, error) {
	var keys [][]byte
	lineOf := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) > 1 {
			return nil, fmt.Errorf("gossipkey: %s:%d: want one key per line, got %d fields", name, n, len(f))
		}
		k, err := decodeKey(f[0])
		if err != nil {
			return nil, fmt.Errorf("gossipkey: %s:%d: key %w", name, n, err)
		}
		if prev, dup := lineOf[string(k)]; dup {
			return nil, fmt.Errorf("gossipkey: %s:%d: the key repeats line %d", name, n, prev)
		}
		lineOf[string(k)] = n
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gossipkey: read %s: %w", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossipkey: %s: no key in the file", name)
	}
	return keys, nil
}

// Keyring parses s (see ParseKeys) into a keyring whose primary is the
// first key.
func Keyring(s string) (*memberlist.Keyring, error) {
	keys, err := ParseKeys(s)
	if err != nil {
		return nil, err
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossipkey: %w", err)
	}
	return kr, nil
}

// Apply makes cfg encrypt with kr and refuse unencrypted gossip in both
// directions.
func Apply(cfg *memberlist.Config, kr *memberlist.Keyring) {
	cfg.Keyring = kr
	cfg.GossipVerifyIncoming = true
	cfg.GossipVerifyOutgoing = true
}

// Update makes the live keyring kr hold exactly the keys of s with its
// first key as primary: it adds new keys, switches the primary, then
// removes keys no longer listed. memberlist reads the keyring on every
// message, so this rotates without a restart.
func Update(kr *memberlist.Keyring, s string) error {
	keys, err := ParseKeys(s)
	if err != nil {
		return err
	}
	return UpdateKeys(kr, keys)
}

// UpdateKeys is Update with decoded keys (at least one).
func UpdateKeys(kr *memberlist.Keyring, keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("gossipkey: no key given")
	}
	for _, k := range keys {
		if err := kr.AddKey(k); err != nil {
			return fmt.Errorf("gossipkey: add key: %w", err)
		}
	}
	if err := kr.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossipkey: use primary: %w", err)
	}
	for _, old := range kr.GetKeys() {
		keep := false
		for _, k := range keys {
			keep = keep || bytes.Equal(k, old)
		}
		if !keep {
			if err := kr.RemoveKey(old); err != nil {
				return fmt.Errorf("gossipkey: remove key: %w", err)
			}
		}
	}
	return nil
}

// Generate returns a new random 32-byte key, base64 encoded, from r (nil:
// crypto/rand).
func Generate(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	k := make([]byte, 32)
	if _, err := io.ReadFull(r, k); err != nil {
		return "", fmt.Errorf("gossipkey: generate: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}
