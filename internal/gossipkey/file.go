package gossipkey

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dagflow/dagflow/internal/reload"
)

// File is a keyring kept in step with a key file (--gossip-key-file):
// Reload, or Run in the background, applies the file's keys to the live
// keyring, so an operator rotates the gossip key by editing the file on
// every node, step by step, without a restart.
type File struct {
	path string
	kr   *memberlist.Keyring
	mu   sync.Mutex // serialises Reload; guards raw
	raw  []byte
}

// LoadFile reads the key file at path (see ParseKeyFile) into a new
// keyring. Errors name the file and the line.
func LoadFile(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossipkey: %w", err)
	}
	keys, err := ParseKeyFile(bytes.NewReader(raw), path)
	if err != nil {
		return nil, err
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossipkey: %s: %w", path, err)
	}
	return &File{path: path, kr: kr, raw: raw}, nil
}

// Keyring returns the live keyring (give it to memberlist once).
func (f *File) Keyring() *memberlist.Keyring { return f.kr }

// Path returns the key file's path.
func (f *File) Path() string { return f.path }

// Reload re-reads the file and, if its contents changed, makes the
// keyring hold exactly its keys with the first as primary (see
// UpdateKeys). changed is true when the contents differ from those
// applied; on error the keyring is left as it was.
func (f *File) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return true, fmt.Errorf("gossipkey: %w", err)
	}
	if bytes.Equal(raw, f.raw) {
		return false, nil
	}
	keys, err := ParseKeyFile(bytes.NewReader(raw), f.path)
	if err != nil {
		return true, err
	}
	if err := UpdateKeys(f.kr, keys); err != nil {
		return true, fmt.Errorf("gossipkey: %s: %w", f.path, err)
	}
	f.raw = raw
	return true, nil
}

// Run calls Reload every interval (0: 10 s) until ctx ends, logging to
// log (nil: slog.Default()) each applied change and each new error, once
// while the file stays broken. onReload, if not nil, is called after each
// attempt that found a changed file, with nil or the error that kept the
// keyring as it was.
func (f *File) Run(ctx context.Context, interval time.Duration, log *slog.Logger, onReload func(error)) {
	if log == nil {
		log = slog.Default()
	}
	reload.Poll(ctx, interval, f.Reload,
		func(err error) {
			log.ErrorContext(ctx, "gossipkey: keeping the previous gossip keys", "file", f.path, "err", err)
		},
		func() {
			log.InfoContext(ctx, "gossipkey: applied gossip keys", "file", f.path, "keys", len(f.kr.GetKeys()))
		}, onReload)
}
