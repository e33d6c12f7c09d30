package hive

import (
	"fmt"
	"time"

	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
)

// Option configures a Source or a Sink. Each option says what it applies
// to; others ignore it. Invalid values are reported by Splits or NewWriter.
type Option func(*options)

type options struct {
	reg       *filesystem.Registry
	where     Predicate
	columns   []string
	expect    []Column
	splitSize int64
	overwrite bool
	static    []staticPart
	codec     string
	rollSize  int64
	rollTime  time.Duration
	rowGroup  int
	wmCommit  bool
	delay     time.Duration
	timeFmt   string
	successOn bool
	metaOn    bool
	policySet bool
	err       error
}

type staticPart struct{ key, value string }

func newOptions(opts []Option) options {
	o := options{codec: "snappy", rowGroup: 64 << 10, metaOn: true}
	for _, f := range opts {
		f(&o)
	}
	if o.reg == nil {
		o.reg = filesystems.Default()
	}
	return o
}

// WithRegistry resolves table and partition locations through reg
// (default: filesystems.Default(), local files and hdfs://). Source
// and Sink.
func WithRegistry(reg *filesystem.Registry) Option { return func(o *options) { o.reg = reg } }

// Where prunes partitions: only partitions p selects are listed and read.
// Source.
func Where(p Predicate) Option { return func(o *options) { o.where = p } }

// Columns projects the rows to the named columns (data or partition
// columns), in this order. Source.
func Columns(names ...string) Option { return func(o *options) { o.columns = names } }

// WithSchema states the columns the job expects ("name type", data
// columns then partition columns as in TableSchema, minus static
// partitions for a sink); a table whose schema differs fails the job with
// an error naming the table and the first differing column. Source and
// Sink.
func WithSchema(columns ...string) Option {
	return func(o *options) {
		for _, c := range columns {
			var n, t string
			if _, err := fmt.Sscanf(c, "%s %s", &n, &t); err != nil {
				o.err = fmt.Errorf("hive: WithSchema: bad column %q: want \"name type\"", c)
				return
			}
			o.expect = append(o.expect, Column{Name: n, Type: c[len(n)+1:]})
		}
	}
}

// SplitSize is the largest byte range of a text file read as one split
// (default: spread the input over the parallelism, 1 MiB to 32 MiB).
// Parquet files are split by row group. Source.
func SplitSize(bytes int64) Option { return func(o *options) { o.splitSize = bytes } }

// Overwrite replaces the data of the partitions the job writes (or of the
// whole table if it is not partitioned) instead of appending: INSERT
// OVERWRITE. For bounded jobs. Sink.
func Overwrite() Option { return func(o *options) { o.overwrite = true } }

// StaticPartition gives a partition key a static value (INSERT ... PARTITION
// (key='value')); rows then omit that column. Static keys must come
// before dynamic ones, as in Hive. Sink.
func StaticPartition(key, value string) Option {
	return func(o *options) { o.static = append(o.static, staticPart{key, value}) }
}

// Compression selects the Parquet codec: "snappy" (default), "zstd",
// "gzip" or "none". Sink.
func Compression(codec string) Option { return func(o *options) { o.codec = codec } }

// RollSize starts a new file once a file reached about bytes. Sink.
func RollSize(bytes int64) Option { return func(o *options) { o.rollSize = bytes } }

// RollInterval starts a new file when a file has been open this long
// (checked as records arrive). Files are always closed at checkpoints.
// Sink.
func RollInterval(d time.Duration) Option { return func(o *options) { o.rollTime = d } }

// RowGroupRows is the number of rows per Parquet row group (default
// 65536). Sink.
func RowGroupRows(n int) Option { return func(o *options) { o.rowGroup = n } }

// CommitOnWatermark makes a partition commit (catalog entry and/or
// _SUCCESS file) wait until the job's watermark passed the partition's
// time plus delay; the partition time comes from its values through
// pattern, e.g. "$dt $hr:00:00" or "$dt" (layouts "2006-01-02 15:04:05",
// "2006-01-02 15:04", "2006-01-02", UTC). Without it partitions are
// committed with the files of each checkpoint (or at the end of a bounded
// job). Sink.
func CommitOnWatermark(pattern string, delay time.Duration) Option {
	return func(o *options) { o.wmCommit, o.timeFmt, o.delay = true, pattern, delay }
}

// CommitPolicy chooses how a partition is committed: "metastore" (add it
// to the catalog), "success-file" (write an empty _SUCCESS file in its
// directory), or both (default: metastore). Sink.
func CommitPolicy(policies ...string) Option {
	return func(o *options) {
		o.metaOn, o.successOn, o.policySet = false, false, true
		for _, p := range policies {
			switch p {
			case "metastore":
				o.metaOn = true
			case "success-file":
				o.successOn = true
			default:
				o.err = fmt.Errorf("hive: unknown partition commit policy %q (want metastore or success-file)", p)
			}
		}
	}
}
