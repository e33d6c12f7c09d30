package pebblestate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/dagflow/dagflow/dag/engine"
	"github.com/dagflow/dagflow/internal/checkpoint"
)

// Default sizes used when Options leaves them zero.
const (
	DefaultCacheSize    = 64 << 20
	DefaultMemTableSize = 16 << 20
	// DefaultWriteCacheSize is the default budget of the write-back cache.
	DefaultWriteCacheSize = 32 << 20
	// minBlockCache is what the cache keeps for blocks at least, on top of
	// the memtables Pebble accounts in it.
	minBlockCache = 16 << 20
)

// maxKeyGroups bounds key groups: a key group is 2 big-endian bytes.
const maxKeyGroups = 1 << 16

// smallDeletePrefix is how many entries DeletePrefix removes one by one
// before it falls back to a range deletion. Point deletions keep reads
// fast; a range tombstone per small prefix (a window per key, say) would
// pile up in the memtable.
const smallDeletePrefix = 32

// Options configures a Store.
type Options struct {
	// KeyGroupFrom and KeyGroupTo (exclusive) are the key groups the
	// operator instance owns. Set refuses keys of other key groups, so a
	// restore with another parallelism loses nothing. When both are zero
	// every key group is accepted (and snapshots claim the full range).
	KeyGroupFrom, KeyGroupTo int
	// CacheSize is the block cache size in bytes (DefaultCacheSize if 0).
	// Pebble reserves the memtables' memory in it, so it is raised to at
	// least 2*MemTableSize + 16 MB: a smaller cache would cache nothing.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes (DefaultMemTableSize
	// if 0). A snapshot flushes the memtable synchronously, so a smaller
	// memtable gives a shorter synchronous phase.
	MemTableSize uint64
	// WriteCacheSize bounds, in bytes, the write-back cache of entries in
	// front of the DB (DefaultWriteCacheSize if 0, no cache if negative):
	// hot keys are read and written in memory and reach Pebble once per
	// snapshot, or when the cache outgrows this size and is emptied.
	WriteCacheSize int64
	// Logger receives Pebble's messages: informational ones at Debug level,
	// errors at Error level. Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.KeyGroupFrom == 0 && o.KeyGroupTo == 0 {
		o.KeyGroupTo = maxKeyGroups
	}
	if o.KeyGroupFrom < 0 || o.KeyGroupTo > maxKeyGroups || o.KeyGroupFrom >= o.KeyGroupTo {
		return o, fmt.Errorf("pebblestate: bad key group range [%d, %d): want 0 <= from < to <= %d", o.KeyGroupFrom, o.KeyGroupTo, maxKeyGroups)
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if floor := 2*int64(o.MemTableSize) + minBlockCache; o.CacheSize < floor {
		o.CacheSize = floor
	}
	if o.WriteCacheSize == 0 {
		o.WriteCacheSize = DefaultWriteCacheSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Store is one operator instance's keyed state in a local Pebble DB. The
// KeyedStore methods are for the owning task's goroutine; Snapshot too, but
// the PendingSnapshot it returns may be uploaded from another goroutine
// while the task goes on writing.
type Store struct {
	dir      string
	opts     Options
	db       *pebble.DB
	instance string
	kgLo     [2]byte
	kgHi     []byte // nil when the range ends at the last key group

	batch *pebble.Batch // reused by DeletePrefix and cache flushes
	cache *writeCache   // see cache.go

	mu sync.Mutex
	// confirmed holds the shared files of the last completed checkpoint
	// (or of the restored one), by local file name: a snapshot references
	// them instead of uploading them again.
	confirmed map[string]checkpoint.SharedFile
	// uploaded holds the shared files of checkpoints uploaded but not yet
	// known complete, by checkpoint id.
	uploaded map[int64]map[string]checkpoint.SharedFile
	closed   bool
}

var _ engine.KeyedStore = (*Store)(nil)

// Layout of a store's working directory.
const (
	dbSubdir      = "db"
	snapSubdir    = "snapshots"
	restoreSubdir = "restore"
)

// Open creates an empty store in dir, a local working directory the store
// owns (anything in it is removed: state only comes back through Restore).
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("pebblestate: clear working directory %s: %w", dir, err)
	}
	return openAt(ctx, dir, opts, false)
}

// openAt opens (creating if needed) the DB in dir/db.
func openAt(_ context.Context, dir string, opts Options, mustExist bool) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pebblestate: create working directory %s: %w", dir, err)
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	po := pebbleOptions(opts, cache)
	po.ErrorIfNotExists = mustExist
	dbDir := filepath.Join(dir, dbSubdir)
	db, err := pebble.Open(dbDir, po)
	if err != nil {
		return nil, fmt.Errorf("pebblestate: open pebble DB in %s: %w", dbDir, err)
	}
	s := &Store{
		dir:       dir,
		opts:      opts,
		db:        db,
		instance:  newInstanceID(),
		confirmed: map[string]checkpoint.SharedFile{},
		uploaded:  map[int64]map[string]checkpoint.SharedFile{},
	}
	s.kgLo, s.kgHi = keyGroupBounds(opts.KeyGroupFrom, opts.KeyGroupTo)
	s.batch = db.NewBatch()
	if opts.WriteCacheSize > 0 {
		s.cache = newWriteCache(opts.WriteCacheSize)
	}
	return s, nil
}

// pebbleOptions are the Pebble settings of a state store.
func pebbleOptions(opts Options, cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		// Checkpoints give durability: no WAL, no fsync per write.
		DisableWAL: true,
		Logger:     slogLogger{opts.Logger},
		// Incremental checkpoints upload the SSTs created since the last
		// one. Random updates flushed to L0 overlap every file of the base
		// level, so each L0 -> Lbase compaction rewrites (and a checkpoint
		// then uploads) the whole base level. Letting a few L0 sublevels
		// accumulate amortizes that rewrite over several checkpoints; the
		// stop-writes limit stays well above it.
		L0CompactionThreshold:     8,
		L0CompactionFileThreshold: 1000,
		L0StopWritesThreshold:     64,
	}
	po.EnsureDefaults()
	for i := range po.Levels {
		// Bloom filters make Get of absent keys cheap (a common state
		// access: first event of a key).
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		po.Levels[i].FilterType = pebble.TableFilter
	}
	return po
}

// newInstanceID returns a random id naming this store instance in shared
// file keys, so two instances never upload different files under one key.
func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// keyGroupBounds returns the key bounds [lo, hi) of key groups [from, to);
// hi is nil when to is the last key group.
func keyGroupBounds(from, to int) (lo [2]byte, hi []byte) {
	binary.BigEndian.PutUint16(lo[:], uint16(from))
	if to < maxKeyGroups {
		hi = binary.BigEndian.AppendUint16(nil, uint16(to))
	}
	return lo, hi
}

// KeyGroupRange returns the key groups [from, to) the store owns.
func (s *Store) KeyGroupRange() (from, to int) { return s.opts.KeyGroupFrom, s.opts.KeyGroupTo }

// Dir returns the store's working directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) checkKey(key []byte) error {
	if len(key) < 2 || bytes.Compare(key[:2], s.kgLo[:]) < 0 || (s.kgHi != nil && bytes.Compare(key[:2], s.kgHi) >= 0) {
		return fmt.Errorf("pebblestate: key %x is not in key groups [%d, %d) of this store: a key starts with its key group as 2 big-endian bytes", key, s.opts.KeyGroupFrom, s.opts.KeyGroupTo)
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil if there is none (prefix is empty or all 0xFF).
func prefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xFF {
			end := make([]byte, i+1)
			copy(end, prefix)
			end[i]++
			return end
		}
	}
	return nil
}

// prefixBounds returns iterator bounds for the keys starting with prefix.
// An empty prefix gives no lower bound (Pebble's invariant checks reject
// an empty non-nil one).
func prefixBounds(prefix []byte) *pebble.IterOptions {
	o := &pebble.IterOptions{UpperBound: prefixEnd(prefix)}
	if len(prefix) > 0 {
		o.LowerBound = prefix
	}
	return o
}

// Scan calls fn for each entry whose key starts with prefix, in key order,
// until fn returns false. It writes the cache's dirty entries to the DB
// first.
func (s *Store) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	if err := s.flushCache(); err != nil {
		return err
	}
	it, err := s.db.NewIter(prefixBounds(prefix))
	if err != nil {
		return fmt.Errorf("pebblestate: scan prefix %x: %w", prefix, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if !bytes.HasPrefix(k, prefix) {
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("pebblestate: scan prefix %x at key %x: %w", prefix, k, err)
		}
		if !fn(k, v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblestate: scan prefix %x: %w", prefix, err)
	}
	return nil
}

// DeletePrefix removes every entry whose key starts with prefix: a few
// entries by point deletions, more by a range deletion. It writes the
// cache's dirty entries to the DB first and drops the deleted keys from
// the cache.
func (s *Store) DeletePrefix(prefix []byte) error {
	if err := s.flushCache(); err != nil {
		return err
	}
	bounds := prefixBounds(prefix)
	end := bounds.UpperBound
	it, err := s.db.NewIter(bounds)
	if err != nil {
		return fmt.Errorf("pebblestate: delete prefix %x: %w", prefix, err)
	}
	b := s.batch
	b.Reset()
	n, useRange := 0, false
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if !bytes.HasPrefix(k, prefix) {
			break
		}
		s.forgetKey(k)
		if useRange {
			continue // only dropping cached keys
		}
		if n == smallDeletePrefix && end != nil {
			useRange = true
			if s.cache == nil || len(s.cache.m) == 0 {
				break
			}
			continue
		}
		if err := b.Delete(k, nil); err != nil {
			_ = it.Close()
			return fmt.Errorf("pebblestate: delete prefix %x: %w", prefix, err)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblestate: delete prefix %x: %w", prefix, err)
	}
	if useRange {
		b.Reset()
		if err := b.DeleteRange(prefix, end, nil); err != nil {
			return fmt.Errorf("pebblestate: delete prefix %x: %w", prefix, err)
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pebblestate: delete prefix %x: %w", prefix, err)
	}
	b.Reset()
	return nil
}

// Metrics returns Pebble's metrics of the store (levels, compactions,
// caches), for diagnostics.
func (s *Store) Metrics() *pebble.Metrics { return s.db.Metrics() }

// Compact compacts all entries into the last level, waiting for it: after
// a bulk load or a rescaling restore it leaves an LSM whose next
// checkpoints upload only what changes.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.flushCache(); err != nil {
		return fmt.Errorf("pebblestate: compact %s: %w", s.dir, err)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("pebblestate: compact %s: %w", s.dir, err)
	}
	var first, end []byte
	if it.First() {
		first = bytes.Clone(it.Key())
		if it.Last() {
			end = append(bytes.Clone(it.Key()), 0) // just past the last key
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblestate: compact %s: %w", s.dir, err)
	}
	if end == nil {
		return nil
	}
	if err := s.db.Compact(ctx, first, end, true); err != nil {
		return fmt.Errorf("pebblestate: compact %s: %w", s.dir, err)
	}
	return nil
}

// Close closes the DB. Pending snapshots stay uploadable (they hold hard
// links to their files); the working directory may be removed once they
// are uploaded or discarded.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	_ = s.batch.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebblestate: close pebble DB in %s: %w", s.dir, err)
	}
	return nil
}

// slogLogger adapts Pebble's logger to slog, quietly: Pebble's routine
// messages (flushes, compactions, table stats) go to Debug.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Infof(format string, args ...any) {
	if l.l.Enabled(context.Background(), slog.LevelDebug) {
		l.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l slogLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble on a broken internal invariant, after which
// it cannot go on: log, then stop the goroutine as Pebble expects.
func (l slogLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebble: " + msg)
}
