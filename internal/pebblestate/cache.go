package pebblestate

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

// The write-back cache. Keyed operators read-modify-write the state of a
// few hot keys over and over (an auction's best bid, a window's
// accumulator), and a Pebble Get costs several microseconds (memtable and
// level iterators, bloom filters, block cache), a Set a skiplist insert.
// The store therefore keeps recently read and written entries, as bytes,
// in a Go map in front of the DB:
//
//   - Get answers from the map when it can (absent keys too) and otherwise
//     reads the DB and remembers the answer;
//   - Set and Delete only change the map and mark the entry dirty;
//   - dirty entries are written to the DB in one batch (flush) before a
//     snapshot (its synchronous phase), before Scan and DeletePrefix (which
//     then see the DB as the whole truth), and when the map outgrows
//     Options.WriteCacheSize, after which the map is emptied.
//
// So Pebble sees one write per key per checkpoint (or per eviction) for
// hot keys, and a snapshot still holds every write made before it.

// cacheEntry is one key's cached state.
type cacheEntry struct {
	key     string
	val     []byte
	present bool // false: the key is absent (cached miss or deletion)
	dirty   bool // differs from the DB
}

// entryOverhead approximates the memory of an entry beyond its key and
// value bytes (entry struct, map slot, dirty list slot).
const entryOverhead = 96

// flushBatchBytes bounds the batch a flush commits at once.
const flushBatchBytes = 16 << 20

// writeCache is the write-back cache of a Store.
type writeCache struct {
	m      map[string]*cacheEntry
	dirty  []*cacheEntry
	bytes  int64
	budget int64
}

func newWriteCache(budget int64) *writeCache {
	return &writeCache{m: make(map[string]*cacheEntry), budget: budget}
}

// lookup returns the entry of key, or nil.
func (c *writeCache) lookup(key []byte) *cacheEntry { return c.m[string(key)] }

// lookupOrNil is lookup on a cache that may be off (nil).
func (c *writeCache) lookupOrNil(key []byte) *cacheEntry {
	if c == nil {
		return nil
	}
	return c.lookup(key)
}

// insert adds an entry for key (not cached yet).
func (c *writeCache) insert(key []byte, val []byte, present, dirty bool) *cacheEntry {
	e := &cacheEntry{key: string(key), present: present, dirty: dirty}
	if present {
		e.val = append(make([]byte, 0, len(val)), val...)
	}
	c.m[e.key] = e
	c.bytes += int64(len(e.key)+cap(e.val)) + entryOverhead
	if dirty {
		c.dirty = append(c.dirty, e)
	}
	return e
}

// update sets an entry's value (present) or deletion (absent) and marks
// it dirty.
func (c *writeCache) update(e *cacheEntry, val []byte, present bool) {
	old := cap(e.val)
	if present {
		e.val = append(e.val[:0], val...)
	} else {
		e.val = e.val[:0]
	}
	e.present = present
	c.bytes += int64(cap(e.val) - old)
	if !e.dirty {
		e.dirty = true
		c.dirty = append(c.dirty, e)
	}
}

// full reports whether the cache exceeds its budget.
func (c *writeCache) full() bool { return c.bytes > c.budget }

// reset empties the cache (after a flush: nothing may be dirty).
func (c *writeCache) reset() {
	clear(c.m)
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	c.bytes = 0
}

// Get appends the value of key to dst; ok is false if key is absent.
func (s *Store) Get(key, dst []byte) ([]byte, bool, error) {
	c := s.cache
	if c == nil {
		return s.dbGet(key, dst)
	}
	if e := c.lookup(key); e != nil {
		if !e.present {
			return dst, false, nil
		}
		return append(dst, e.val...), true, nil
	}
	n := len(dst)
	dst, ok, err := s.dbGet(key, dst)
	if err != nil {
		return dst, false, err
	}
	c.insert(key, dst[n:], ok, false)
	return dst, ok, s.maybeEvict()
}

// dbGet reads key from the DB, bypassing the cache.
func (s *Store) dbGet(key, dst []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return dst, false, nil
		}
		return dst, false, fmt.Errorf("pebblestate: get key %x: %w", key, err)
	}
	dst = append(dst, v...)
	if err := closer.Close(); err != nil {
		return dst, false, fmt.Errorf("pebblestate: get key %x: %w", key, err)
	}
	return dst, true, nil
}

// Set stores value under key. The key must start with a key group of the
// store's range.
func (s *Store) Set(key, value []byte) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	if s.cache == nil {
		if err := s.db.Set(key, value, pebble.NoSync); err != nil {
			return fmt.Errorf("pebblestate: set key %x: %w", key, err)
		}
		return nil
	}
	if e := s.cache.lookup(key); e != nil {
		s.cache.update(e, value, true)
	} else {
		s.cache.insert(key, value, true, true)
	}
	return s.maybeEvict()
}

// Append appends suffix to the value of key (an absent key holds the
// empty value). Cached, the value grows in place: adding to a list costs
// the size of the addition, not of the list.
func (s *Store) Append(key, suffix []byte) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	e := s.cache.lookupOrNil(key)
	if e == nil {
		old, _, err := s.Get(key, nil)
		if err != nil {
			return err
		}
		return s.Set(key, append(old, suffix...))
	}
	c := s.cache
	before := cap(e.val)
	e.val = append(e.val, suffix...)
	e.present = true
	c.bytes += int64(cap(e.val) - before)
	if !e.dirty {
		e.dirty = true
		c.dirty = append(c.dirty, e)
	}
	return s.maybeEvict()
}

// Delete removes key.
func (s *Store) Delete(key []byte) error {
	if s.cache == nil {
		if err := s.db.Delete(key, pebble.NoSync); err != nil {
			return fmt.Errorf("pebblestate: delete key %x: %w", key, err)
		}
		return nil
	}
	if e := s.cache.lookup(key); e != nil {
		s.cache.update(e, nil, false)
	} else {
		s.cache.insert(key, nil, false, true)
	}
	return s.maybeEvict()
}

// maybeEvict flushes and empties the cache when it is over its budget.
func (s *Store) maybeEvict() error {
	if s.cache == nil || !s.cache.full() {
		return nil
	}
	if err := s.flushCache(); err != nil {
		return err
	}
	s.cache.reset()
	return nil
}

// flushCache writes the dirty entries of the cache to the DB, in batches,
// and marks them clean.
func (s *Store) flushCache() error {
	c := s.cache
	if c == nil || len(c.dirty) == 0 {
		return nil
	}
	b := s.batch
	b.Reset()
	commit := func() error {
		if b.Empty() {
			return nil
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("pebblestate: write cached state to the DB: %w", err)
		}
		b.Reset()
		return nil
	}
	for _, e := range c.dirty {
		var err error
		if e.present {
			err = b.Set(keyBytes(e.key), e.val, nil)
		} else {
			err = b.Delete(keyBytes(e.key), nil)
		}
		if err != nil {
			return fmt.Errorf("pebblestate: write cached state to the DB: key %x: %w", e.key, err)
		}
		if b.Len() >= flushBatchBytes {
			if err := commit(); err != nil {
				return err
			}
		}
	}
	if err := commit(); err != nil {
		return err
	}
	for _, e := range c.dirty {
		e.dirty = false
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	return nil
}

// forgetKey drops key from the cache (after the caller flushed it).
func (s *Store) forgetKey(key []byte) {
	c := s.cache
	if c == nil {
		return
	}
	if e := c.lookup(key); e != nil {
		c.bytes -= int64(len(e.key)+cap(e.val)) + entryOverhead
		delete(c.m, e.key)
	}
}

// keyBytes views a cached key as bytes without copying; the batch copies
// it, and nothing writes through the view.
func keyBytes(k string) []byte { return unsafe.Slice(unsafe.StringData(k), len(k)) }
