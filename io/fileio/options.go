package fileio

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
)

// Defaults of the tunables.
const (
	// DefaultSplitSize is the largest byte range of one split of an
	// uncompressed file when WithSplitSize is not given.
	DefaultSplitSize = 32 << 20
	// minAutoSplitSize is the smallest split size chosen automatically
	// when spreading small inputs over many subtasks.
	minAutoSplitSize = 1 << 20
	// DefaultBufferSize is the read and write buffer size.
	DefaultBufferSize = 256 << 10
	// DefaultMaxLineLength is the longest line a source accepts.
	DefaultMaxLineLength = 64 << 20
)

// Compression selects how sinks compress part files.
type Compression int

const (
	// NoCompression writes plain files.
	NoCompression Compression = iota
	// Gzip writes gzip files with a ".gz" suffix.
	Gzip
	// Zstd writes zstandard files with a ".zst" suffix.
	Zstd
)

// Ext returns the file-name suffix of the compression ("", ".gz" or ".zst").
func (c Compression) Ext() string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// Option configures a source (set with the source's With method) or a
// sink (passed to its constructor). Each option documents what it applies
// to; options that do not apply are ignored. Invalid values are reported
// by the source's Splits and OpenSplit or the sink's NewWriter, never by a
// panic.
type Option func(*config)

type config struct {
	reg         *filesystem.Registry
	splitSize   int64 // 0 = automatic
	bufSize     int
	maxLine     int
	delim       byte
	comment     byte // 0 = none
	skipHeader  bool
	header      []string
	maxBad      int // -1 unlimited; 0 = fail on first bad record
	onBad       func(*RecordError)
	rollSize    int64
	compression Compression
	baseDir     string // "" = filesystem.BaseDir()
	err         error
}

func newConfig(opts []Option) config {
	c := config{
		bufSize: DefaultBufferSize,
		maxLine: DefaultMaxLineLength,
		delim:   ',',
	}
	c.apply(opts)
	return c
}

func (c *config) apply(opts []Option) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.reg == nil {
		c.reg = filesystems.Default()
	}
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("fileio: "+format, args...)
	}
}

// WithRegistry resolves paths through reg (default: a fresh
// filesystems.Default(): local files and hdfs://). Sources and sinks.
func WithRegistry(reg *filesystem.Registry) Option {
	return func(c *config) { c.reg = reg }
}

// WithBaseDir resolves relative local paths against dir (an absolute
// path) instead of the default, filesystem.BaseDir(): the directory the
// job was submitted from ($DAGFLOW_CLIENT_DIR, set by dagctl submit), or
// the working directory of an embedded run. Sources and sinks.
func WithBaseDir(dir string) Option {
	return func(c *config) {
		if !filepath.IsAbs(dir) {
			c.fail("base directory %q is not an absolute path", dir)
			return
		}
		c.baseDir = dir
	}
}

// absolute returns path as an absolute URI (see filesystem.Absolute),
// resolving relative local paths against the configured base directory.
func (c *config) absolute(path string) (string, error) {
	base := c.baseDir
	if base == "" {
		if _, ok := filesystem.SchemeOf(path); !ok && !filepath.IsAbs(path) {
			var err error
			if base, err = filesystem.BaseDir(); err != nil {
				return "", fmt.Errorf("fileio: resolving %q: %w", path, err)
			}
		}
	}
	abs, err := filesystem.Absolute(path, base)
	if err != nil {
		return "", fmt.Errorf("fileio: %w", err)
	}
	return abs, nil
}

// WithSplitSize sets the byte size of the splits of uncompressed files.
// Without it the size is DefaultSplitSize, lowered (down to 1 MiB) when
// the input is too small to give every subtask a split. Sources.
func WithSplitSize(bytes int64) Option {
	return func(c *config) {
		if bytes <= 0 {
			c.fail("split size must be positive, got %d", bytes)
			return
		}
		c.splitSize = bytes
	}
}

// WithBufferSize sets the read buffer size of sources and the write buffer
// size of sinks (default DefaultBufferSize, at least 4 KiB).
func WithBufferSize(bytes int) Option {
	return func(c *config) {
		if bytes < 4<<10 {
			c.fail("buffer size must be at least 4096 bytes, got %d", bytes)
			return
		}
		c.bufSize = bytes
	}
}

// WithMaxLineLength sets the longest line sources accept (default
// DefaultMaxLineLength); a longer line fails the read with an error naming
// file and offset. Sources.
func WithMaxLineLength(bytes int) Option {
	return func(c *config) {
		if bytes <= 0 {
			c.fail("max line length must be positive, got %d", bytes)
			return
		}
		c.maxLine = bytes
	}
}

// WithDelimiter sets the CSV field delimiter (default ','). It must be an
// ASCII character other than '"', '\r' and '\n'. CSV source and sink.
func WithDelimiter(d rune) Option {
	return func(c *config) {
		if d <= 0 || d >= 0x80 || d == '"' || d == '\r' || d == '\n' {
			c.fail("invalid CSV delimiter %q: need an ASCII character other than '\"', CR and LF", d)
			return
		}
		c.delim = byte(d)
	}
}

// WithComment makes the CSV source skip lines starting with ch (e.g.
// '#'), and the CSV sink quote a first field starting with ch so that it
// is not read back as a comment. It must be an ASCII character other than
// '"', '\r' and '\n'. CSV source and sink.
func WithComment(ch rune) Option {
	return func(c *config) {
		if ch <= 0 || ch >= 0x80 || ch == '"' || ch == '\r' || ch == '\n' {
			c.fail("invalid CSV comment character %q: need an ASCII character other than '\"', CR and LF", ch)
			return
		}
		c.comment = byte(ch)
	}
}

// WithSkipHeader makes the CSV source skip the first line of every file.
// CSV source.
func WithSkipHeader() Option {
	return func(c *config) { c.skipHeader = true }
}

// WithHeader makes the CSV sink start every part file with a header line
// holding columns. CSV sink.
func WithHeader(columns ...string) Option {
	cols := append([]string(nil), columns...)
	return func(c *config) { c.header = cols }
}

// WithSkipBadRecords makes CSV and JSON Lines readers skip records that
// fail to parse instead of failing, up to maxBad per split; the next bad
// record fails the read with an error wrapping the last *RecordError. A
// negative maxBad skips without limit. Readers count skipped records (see
// BadRecordCounter). CSV and JSON Lines sources.
func WithSkipBadRecords(maxBad int) Option {
	return func(c *config) {
		if maxBad < 0 {
			maxBad = -1
		}
		c.maxBad = maxBad
	}
}

// WithBadRecordHandler calls fn with every bad record that is skipped
// (see WithSkipBadRecords), e.g. to log it. fn is called from the reading
// goroutine of each split. CSV and JSON Lines sources.
func WithBadRecordHandler(fn func(*RecordError)) Option {
	return func(c *config) { c.onBad = fn }
}

// WithRollSize makes sink writers start a new part file once the current
// one holds at least bytes (uncompressed) of records. 0 (the default)
// rolls only at Prepare. Sinks.
func WithRollSize(bytes int64) Option {
	return func(c *config) {
		if bytes < 0 {
			c.fail("roll size must not be negative, got %d", bytes)
			return
		}
		c.rollSize = bytes
	}
}

// WithCompression compresses sink part files (the final names get the
// compression's suffix, which sources recognise). Sinks.
func WithCompression(comp Compression) Option {
	return func(c *config) {
		if comp != NoCompression && comp != Gzip && comp != Zstd {
			c.fail("unknown compression %d", int(comp))
			return
		}
		c.compression = comp
	}
}

var errTooManyBad = errors.New("too many bad records")
