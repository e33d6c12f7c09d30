// Package gossipkey turns the --gossip-key flag or the --gossip-key-file
// file into a memberlist keyring, so that membership gossip
// (internal/membership) is encrypted and authenticated with AES-GCM and
// nodes without a key cannot join.
//
// The flag is a comma-separated list of base64 keys of 16, 24 or 32 bytes
// (AES-128/192/256); the file holds the same keys one per line ('#'
// starts a comment). The first key is the primary: it encrypts
// everything this node sends. All listed keys are tried when decrypting.
// A key file is re-read while the daemon runs (File.Run) and applied to
// the live keyring, so rotation needs no restart. Rotation is three
// steps, each applied to every node before the next begins:
//
//  1. "OLD,NEW" (file: OLD then NEW): install the new key as a secondary;
//  2. "NEW,OLD": make it the primary;
//  3. "NEW": remove the old key.
//
// At every point every node can decrypt what every other node sends.
package gossipkey
