// Command shufflebench measures a large blocking shuffle against the disk
// it runs on, in one run, and prints Markdown tables.
//
//	go run ./bench/cmd/shufflebench [--size 2GB] [--producers 200] [--consumers 200] [--dir DIR]
//	    [--codecs none,s2,zstd] [--writers 4] [--readers 4] [--fan-in 0] [--baseline=true]
//
// Each variant is preceded by a dd-style measurement of the disk: one file
// of --size written in 1 MiB writes and fsynced, evicted from the page
// cache and read back in 1 MiB reads. (The disk of a virtual machine varies
// a lot from one minute to the next; each variant is compared with the dd
// run taken right before it.)
//
// The external variants, one per codec, run the shuffle as a cluster does:
// --producers producer subtasks (--writers at a time) write --size bytes in
// total, each into its own sort-merge partition of --consumers
// subpartitions staged under an in-process shuffle daemon's directory, and
// hand it over with the daemon's Adopt RPC; every data and index file is
// fsynced; then --consumers consumer subtasks (--readers at a time, each
// reading its channels --fan-in at a time, all by default like the
// engine's input gate) read their subpartition of every partition, first
// from the daemon over loopback gRPC (shuffle/remote), then host-local
// (shuffle.FileView over the daemon's files), each cold (files evicted from
// the page cache) and warm. With --baseline it also writes and reads in
// process, uncompressed, with the sort-merge layout and the naive
// file-per-subpartition layout.
//
// Page cache: dropping the whole cache needs root; instead every measured
// file is fsynced (so its pages are clean) and then evicted with
// posix_fadvise(POSIX_FADV_DONTNEED), which an unprivileged process may do
// for its own files. Cold reads therefore miss the guest's page cache; a
// virtual disk may still be cached by its host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/daemon"
	"github.com/dagflow/dagflow/shuffle/remote"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shufflebench:", err)
		os.Exit(1)
	}
}

// config holds the flags.
type config struct {
	size                 int64
	producers, consumers int
	writers, readers     int
	fanIn                int
	bufferSize           int
	dir                  string
	codecs               []shuffle.Compression
	baseline             bool
	// tls runs only the data-plane comparison: warm reads over loopback
	// gRPC, plaintext and mutual TLS, in the same run.
	tls bool
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, suf := range []struct {
		s string
		m int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"GB", 1e9}, {"MB", 1e6}, {"G", 1e9}, {"M", 1e6}} {
		if strings.HasSuffix(u, suf.s) {
			u, mult = strings.TrimSuffix(u, suf.s), suf.m
			break
		}
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want e.g. 2GB, 500MB, 1GiB", s)
	}
	return int64(f * float64(mult)), nil
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("shufflebench", flag.ContinueOnError)
	size := fs.String("size", "2GB", "bytes shuffled in total (raw, before compression)")
	fs.IntVar(&c.producers, "producers", 200, "producer subtasks (partitions)")
	fs.IntVar(&c.consumers, "consumers", 200, "consumer subtasks (subpartitions per partition)")
	fs.IntVar(&c.writers, "writers", 4, "producers writing at a time")
	fs.IntVar(&c.readers, "readers", 4, "consumers reading at a time")
	fs.IntVar(&c.fanIn, "fan-in", 0, "channels a consumer reads at a time (0: all, like the engine's input gate)")
	fs.IntVar(&c.bufferSize, "buffer", 32<<10, "size of the buffers producers write (the engine's exchange buffer)")
	fs.StringVar(&c.dir, "dir", os.TempDir(), "directory on the disk to measure")
	codecs := fs.String("codecs", "none,s2,zstd", "codecs of the end-to-end runs")
	fs.BoolVar(&c.baseline, "baseline", true, "also compare with the file-per-subpartition layout (no compression)")
	fs.BoolVar(&c.tls, "tls", false, "only compare the data plane (warm reads over loopback gRPC) plaintext and with mutual TLS")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.size, err = parseSize(*size); err != nil {
		return c, err
	}
	for _, s := range strings.Split(*codecs, ",") {
		cc, err := shuffle.ParseCompression(s)
		if err != nil {
			return c, err
		}
		c.codecs = append(c.codecs, cc)
	}
	if c.producers < 1 || c.consumers < 1 || c.writers < 1 || c.readers < 1 || c.bufferSize < 64 || c.fanIn < 0 {
		return c, errors.New("--producers, --consumers, --writers, --readers must be positive, --fan-in not negative and --buffer at least 64")
	}
	if c.fanIn == 0 {
		c.fanIn = c.producers
	}
	return c, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase is one timed step.
type phase struct {
	wall, cpu time.Duration
}

func measure(f func() error) (phase, error) {
	c0, t0 := cpuTime(), time.Now()
	err := f()
	return phase{time.Since(t0), cpuTime() - c0}, err
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func run(args []string, out io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(cfg.dir, "shufflebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	fmt.Fprintf(out, "shufflebench: %.2f GB, %d producers x %d consumers, %d KiB buffers, %d writers, %d readers x %d channels, GOMAXPROCS %d, dir %s\n\n",
		float64(cfg.size)/1e9, cfg.producers, cfg.consumers, cfg.bufferSize>>10, cfg.writers, cfg.readers, cfg.fanIn, runtime.GOMAXPROCS(0), cfg.dir)

	// The disk of a virtual machine is not steady (host caches, thin
	// provisioning): every variant is compared with a dd measurement taken
	// right before it, in the same conditions.
	ddRun := func(before string) (diskResult, error) {
		d, err := diskBaseline(root, cfg.size)
		if err != nil {
			return d, fmt.Errorf("disk baseline: %w", err)
		}
		fmt.Fprintf(out, "dd before %s (1 MiB I/O, one file of %.2f GB): write+fsync %.0f MB/s, cold read %.0f MB/s (evicted from the page cache: %v), warm read %.0f MB/s\n",
			before, float64(cfg.size)/1e9, d.write, d.read, d.evicted, d.warm)
		return d, nil
	}
	data := genBuffers(cfg.bufferSize, 1024)
	if cfg.tls {
		return runTLS(out, root, cfg, data)
	}
	var results []result
	add := func(name string, f func() (result, error)) error {
		d, err := ddRun(name)
		if err != nil {
			return err
		}
		r, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.disk = d
		results = append(results, r)
		return nil
	}
	for _, codec := range cfg.codecs {
		if err := add("external/"+codec.String(), func() (result, error) { return runExternal(root, cfg, codec, data) }); err != nil {
			return err
		}
	}
	if cfg.baseline {
		for _, layout := range []shuffle.Layout{shuffle.LayoutSortMerge, shuffle.LayoutFilePerSubpartition} {
			if err := add("in-process/"+layout.String(), func() (result, error) { return runLocal(root, cfg, layout, data) }); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(out)
	report(out, results)
	return nil
}

// diskResult is the dd-style baseline in MB/s.
type diskResult struct {
	write, read, warm float64
	evicted           bool
}

func diskBaseline(root string, size int64) (diskResult, error) {
	var r diskResult
	path := filepath.Join(root, "dd.bin")
	buf := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	f, err := os.Create(path)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	for n := int64(0); n < size; n += int64(len(buf)) {
		buf[0]++ // not all-equal blocks
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			f.Close()
			return r, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return r, err
	}
	r.write = mbps(size, time.Since(t0))
	r.evicted = evict(f) == nil
	f.Close()
	read := func() (float64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		t0 := time.Now()
		var n int64
		for {
			m, err := f.Read(buf)
			n += int64(m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, err
			}
		}
		return mbps(n, time.Since(t0)), nil
	}
	if r.read, err = read(); err != nil {
		return r, err
	}
	if r.warm, err = read(); err != nil {
		return r, err
	}
	return r, os.Remove(path)
}

// genBuffers returns n buffers of about size bytes shaped like the
// engine's data frames: a frame byte, then records of (timestamp delta,
// key, value) varint-encoded, keys drawn from a Zipf-distributed vocabulary.
func genBuffers(size, n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	vocab := make([]string, 50000)
	for i := range vocab {
		w := make([]byte, 3+rng.IntN(10))
		for j := range w {
			w[j] = letters[min(int(rng.ExpFloat64()*5), len(letters)-1)]
		}
		vocab[i] = string(w)
	}
	zipf := rand.NewZipf(rng, 1.05, 1, uint64(len(vocab)-1))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 0, size)
		b = append(b, 0)
		for {
			w := vocab[zipf.Uint64()]
			if len(b)+len(w)+3*10 > size {
				break
			}
			b = appendUvarint(b, uint64(rng.IntN(8)))
			b = appendUvarint(b, uint64(len(w)))
			b = append(b, w...)
			b = appendUvarint(b, rng.Uint64N(1<<20))
		}
		out[i] = b
	}
	return out
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// result is one variant's measurements.
type result struct {
	name   string
	raw    int64 // bytes the producers wrote
	stored int64 // bytes on disk (data + index)
	files  int
	write  phase // write + commit (+ adopt)
	sync   phase // fsync of every file
	reads  []readResult
	disk   diskResult // dd right before the variant
}

// readResult is the consumers reading everything, through one path.
type readResult struct {
	path       string
	cold, warm phase
}

// readAll evicts the files under dir from the page cache, then lets the
// consumers read everything through svc twice (cold, then warm).
func (r *result) readAll(ctx context.Context, cfg config, path, dir string, svc shuffle.Service, job string) error {
	if err := evictTree(dir); err != nil {
		return fmt.Errorf("evict: %w", err)
	}
	rr := readResult{path: path}
	for _, ph := range []*phase{&rr.cold, &rr.warm} {
		var n int64
		var err error
		*ph, err = measure(func() error {
			n, err = consume(ctx, cfg, svc, job)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s read: %w", path, err)
		}
		if n != r.raw {
			return fmt.Errorf("%s read: %d bytes, wrote %d", path, n, r.raw)
		}
	}
	r.reads = append(r.reads, rr)
	return nil
}

// producerShare returns the buffers producer p writes: subpartition and
// buffer index, spread evenly over the subpartitions.
func forEachBuffer(cfg config, data [][]byte, p int, f func(sub int, buf []byte) error) (int64, error) {
	per := cfg.size / int64(cfg.producers)
	var n int64
	for j := 0; n < per; j++ {
		buf := data[(p*131+j*7)%len(data)]
		if rem := per - n; int64(len(buf)) > rem {
			buf = buf[:rem]
		}
		if err := f((p+j)%cfg.consumers, buf); err != nil {
			return n, err
		}
		n += int64(len(buf))
	}
	return n, nil
}

// pool runs f(0..n-1) on k goroutines and returns the first error.
func pool(n, k int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < k; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func partition(job string, p int) shuffle.PartitionID {
	return shuffle.PartitionID{Job: job, Result: "e1", Producer: p}
}

// produce writes every producer's partition with svc and calls after(p)
// once partition p is committed.
func produce(ctx context.Context, cfg config, svc shuffle.Service, job string, data [][]byte, after func(p int) error) (int64, error) {
	var raw atomic.Int64
	err := pool(cfg.producers, cfg.writers, func(p int) error {
		id := partition(job, p)
		w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: cfg.consumers})
		if err != nil {
			return err
		}
		n, err := forEachBuffer(cfg, data, p, func(sub int, buf []byte) error { return w.Write(ctx, sub, buf) })
		if err == nil {
			err = w.Commit(ctx)
		}
		if err != nil {
			w.Abort(err)
			return fmt.Errorf("partition %s: %w", id, err)
		}
		raw.Add(n)
		if after != nil {
			return after(p)
		}
		return nil
	})
	return raw.Load(), err
}

// consume reads every consumer's subpartition of every partition and
// returns the bytes read. Like the engine's input gate, a consumer reads
// its channels (one per producer) concurrently, --fan-in at a time.
func consume(ctx context.Context, cfg config, svc shuffle.Service, job string) (int64, error) {
	var total atomic.Int64
	err := pool(cfg.consumers, cfg.readers, func(c int) error {
		return pool(cfg.producers, cfg.fanIn, func(p int) error {
			r, err := svc.OpenReader(ctx, partition(job, p), c, c+1)
			if err != nil {
				return err
			}
			defer r.Close()
			var n int64
			for {
				b, err := r.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				n += int64(len(b))
			}
			total.Add(n)
			return nil
		})
	})
	return total.Load(), err
}

// syncTree fsyncs every file under dir and returns their count and size.
func syncTree(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", path, err)
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		files++
		bytes += fi.Size()
		return nil
	})
	return files, bytes, err
}

// evictTree drops every file under dir from the page cache.
func evictTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return evict(f)
	})
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runExternal shuffles through an in-process shuffle daemon exactly as
// executors do: stage, commit, Adopt over gRPC, read over gRPC.
func runExternal(root string, cfg config, codec shuffle.Compression, data [][]byte) (result, error) {
	ctx := context.Background()
	r := result{name: "external daemon, sort-merge, " + codec.String()}
	ddir := filepath.Join(root, "daemon-"+codec.String())
	d, err := daemon.Start(ctx, daemon.Config{Dir: ddir, ReapInterval: -1, Logger: quietLogger()})
	if err != nil {
		return r, err
	}
	defer d.Close()
	staging, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: filepath.Join(d.StagingDir(), "bench"), Compression: codec, Logger: quietLogger()})
	if err != nil {
		return r, err
	}
	defer staging.Close()
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return r, err
	}
	defer conn.Close()
	ctl := rpcpb.NewShuffleDaemonClient(conn)
	const job = "bench"
	r.write, err = measure(func() error {
		var err error
		r.raw, err = produce(ctx, cfg, staging, job, data, func(p int) error {
			id := partition(job, p)
			dp, ip := staging.PartitionFiles(id)
			_, err := ctl.Adopt(ctx, &rpcpb.AdoptRequest{
				Partition: &rpcpb.ShufflePartition{Job: job, Result: id.Result, Producer: int32(p)},
				DataPath:  dp, IndexPath: ip})
			return err
		})
		return err
	})
	if err != nil {
		return r, err
	}
	dataDir := filepath.Join(ddir, shuffle.DaemonDataDir)
	r.sync, err = measure(func() error {
		var err error
		r.files, r.stored, err = syncTree(dataDir)
		return err
	})
	if err != nil {
		return r, err
	}
	reads := remote.NewResolver(remote.ClientOptions{Logger: quietLogger()})
	defer reads.Close()
	svc, err := reads.Resolve(d.Addr())
	if err != nil {
		return r, err
	}
	if err := r.readAll(ctx, cfg, "daemon over loopback gRPC", dataDir, svc, job); err != nil {
		return r, err
	}
	view, err := shuffle.NewFileView(shuffle.LocalConfig{Dir: dataDir, Logger: quietLogger()})
	if err != nil {
		return r, err
	}
	defer view.Close()
	if err := r.readAll(ctx, cfg, "host-local (daemon's files)", dataDir, view, job); err != nil {
		return r, err
	}
	_, err = ctl.ReleaseJob(ctx, &rpcpb.JobRef{JobId: job})
	return r, err
}

// runLocal writes and reads in process with one Local of the given layout,
// uncompressed: the layout comparison.
func runLocal(root string, cfg config, layout shuffle.Layout, data [][]byte) (result, error) {
	ctx := context.Background()
	r := result{name: "in-process, " + layout.String() + ", none"}
	dir := filepath.Join(root, "local-"+layout.String())
	l, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: dir, Compression: shuffle.CompressionNone, Layout: layout, Logger: quietLogger()})
	if err != nil {
		return r, err
	}
	defer l.Close()
	const job = "bench"
	r.write, err = measure(func() error {
		var err error
		r.raw, err = produce(ctx, cfg, l, job, data, nil)
		return err
	})
	if err != nil {
		return r, err
	}
	r.sync, err = measure(func() error {
		var err error
		r.files, r.stored, err = syncTree(dir)
		return err
	})
	if err != nil {
		return r, err
	}
	if err := r.readAll(ctx, cfg, "in-process", dir, l, job); err != nil {
		return r, err
	}
	return r, l.Release(ctx, job)
}

func report(out io.Writer, rs []result) {
	fmt.Fprintln(out, "Writes (producers write, commit and, through the daemon, get adopted; then every file is fsynced):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| variant | files | stored/raw | write MB/s raw, page cache | write+fsync MB/s on disk | dd write+fsync MB/s | % of dd | CPU s per raw GB |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		wdisk := mbps(r.stored, r.write.wall+r.sync.wall)
		fmt.Fprintf(out, "| %s | %d | %.3f | %.0f | %.0f | %.0f | %.0f%% | %.2f |\n", r.name, r.files, float64(r.stored)/float64(r.raw),
			mbps(r.raw, r.write.wall), wdisk, r.disk.write, 100*wdisk/r.disk.write, (r.write.cpu+r.sync.cpu).Seconds()/(float64(r.raw)/1e9))
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Reads (every consumer reads its subpartition of every partition; cold = files evicted from the page cache first):")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| variant | read path | cold read MB/s on disk | dd cold read MB/s | % of dd | warm read MB/s raw | CPU s per raw GB (cold) | end to end % of dd |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		ws := r.write.wall + r.sync.wall
		for _, rr := range r.reads {
			rdisk := mbps(r.stored, rr.cold.wall)
			// End to end: the time dd needs to write and read the
			// stored bytes, over the time the shuffle took to write,
			// fsync and cold-read them.
			dd := float64(r.stored)/1e6/r.disk.write + float64(r.stored)/1e6/r.disk.read
			fmt.Fprintf(out, "| %s | %s | %.0f | %.0f | %.0f%% | %.0f | %.2f | %.0f%% |\n", r.name, rr.path, rdisk, r.disk.read,
				100*rdisk/r.disk.read, mbps(r.raw, rr.warm.wall), rr.cold.cpu.Seconds()/(float64(r.raw)/1e9), 100*dd/(ws+rr.cold.wall).Seconds())
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "\"On disk\" rates count stored bytes (after compression); \"raw\" rates count the bytes producers wrote.")
}
