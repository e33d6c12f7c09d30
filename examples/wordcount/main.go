// Command wordcount counts words in text files with dagflow.
//
//	go run ./examples/wordcount [--input PATH] [--output DIR] [--parallelism N] [--mode batch|streaming]
//
// A word is a maximal run of non-whitespace characters (no case folding).
// The output is `word<TAB>count` lines in part files under DIR. Without
// --input a sample text is generated, so the command runs with no setup;
// without --output the result goes to a new temporary directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config holds the parsed flags.
type config struct {
	input, output string
	parallelism   int
	mode          dag.ExecutionMode
	explain       string
	sampleLines   int
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.input, "input", "", "input file, directory or glob (default: a generated sample text)")
	fs.StringVar(&c.output, "output", "", "output directory (default: a new temporary directory)")
	fs.IntVar(&c.parallelism, "parallelism", 2, "parallelism of every operator")
	mode := fs.String("mode", "batch", "exchange mode: batch (blocking shuffles) or streaming (pipelined)")
	fs.StringVar(&c.explain, "explain", "", "print the plan (text or dot) instead of running")
	fs.IntVar(&c.sampleLines, "sample-lines", 100000, "lines of generated sample text when --input is not given")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.parallelism < 1 {
		return c, fmt.Errorf("--parallelism %d: must be at least 1", c.parallelism)
	}
	if c.sampleLines < 1 {
		return c, fmt.Errorf("--sample-lines %d: must be at least 1", c.sampleLines)
	}
	switch *mode {
	case "batch":
		c.mode = dag.BatchMode
	case "streaming":
		c.mode = dag.StreamingMode
	default:
		return c, fmt.Errorf("--mode %q: want batch or streaming", *mode)
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "wordcount:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if c.input == "" {
		dir, err := os.MkdirTemp("", "dagflow-wordcount-input-")
		if err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c.input = filepath.Join(dir, "sample.txt")
		if err := WriteSample(c.input, c.sampleLines, 1); err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
		fmt.Fprintf(stderr, "generated a sample text of %d lines\n", c.sampleLines)
	}
	if c.output == "" && c.explain == "" {
		dir, err := os.MkdirTemp("", "dagflow-wordcount-")
		if err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
		c.output = dir
	}
	g := Build(c.input, c.output, dag.Config{Parallelism: c.parallelism, Mode: c.mode})
	if c.explain != "" {
		plan, err := g.Build()
		if err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
		if err := plan.Explain(stdout, c.explain); err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 2
		}
		return 0
	}
	start := time.Now()
	res, err := dagflow.Run(ctx, g, dagflow.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "wordcount:", err)
		return 1
	}
	src, _ := res.Vertex("lines")
	out, _ := res.Vertex("output")
	fmt.Fprintf(stdout, "read %d lines, wrote %d distinct words to %s in %s (%d restarts)\n",
		src.RecordsOut, out.RecordsIn, c.output, time.Since(start).Round(time.Millisecond), res.Restarts)
	if top, err := topWords(ctx, c.output, 5); err == nil && len(top) > 0 {
		fmt.Fprintf(stdout, "top words: %s\n", strings.Join(top, ", "))
	}
	return 0
}

// Build returns the wordcount graph: lines → words → count per word → text
// files.
func Build(input, output string, cfg dag.Config) *dag.Graph {
	g := dag.New("wordcount", cfg)
	lines := dag.FromSource(g, "lines", fileio.Lines(input), nil)
	words := dag.FlatMap(lines, Tokenize, dag.Name("tokenize"))
	counts := dag.Aggregate(dag.KeyBy(words, func(w string) string { return w }), dag.Agg[string, int64, int64]{
		Zero:   func() int64 { return 0 },
		Add:    func(n int64, _ string) int64 { return n + 1 },
		Merge:  func(a, b int64) int64 { return a + b },
		Result: func(n int64) int64 { return n },
	}, dag.Name("count"))
	dag.ToSink(counts, "output", fileio.TextSink(output, func(dst []byte, kv dag.KV[string, int64]) []byte {
		dst = append(dst, kv.Key...)
		dst = append(dst, '\t')
		return strconv.AppendInt(dst, kv.Value, 10)
	}))
	return g
}

// Tokenize emits the maximal runs of non-whitespace characters of line.
// Words are substrings of line: no allocation per word.
func Tokenize(line string, emit func(string)) {
	start := -1
	for i := 0; i < len(line); {
		c := line[i]
		size, space := 1, false
		if c < utf8.RuneSelf {
			space = asciiSpace[c]
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(line[i:])
			space = unicode.IsSpace(r)
		}
		if space {
			if start >= 0 {
				emit(line[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i += size
	}
	if start >= 0 {
		emit(line[start:])
	}
}

var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// WriteSample writes a deterministic sample text of n lines with a
// Zipf-distributed vocabulary.
func WriteSample(path string, n int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := rand.NewZipf(r, 1.2, 1, 20000)
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < n; i++ {
		words := 4 + r.IntN(12)
		for j := 0; j < words; j++ {
			if j > 0 {
				buf = append(buf, ' ')
			}
			buf = appendWord(buf, z.Uint64())
		}
		buf = append(buf, '\n')
		if len(buf) > 1<<15 {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var syllables = []string{"da", "ta", "flo", "w", "gr", "aph", "ne", "ko", "ri", "su", "me", "lo", "pi", "ra", "te", "ve"}

func appendWord(dst []byte, n uint64) []byte {
	for {
		dst = append(dst, syllables[n%uint64(len(syllables))]...)
		n /= uint64(len(syllables))
		if n == 0 {
			return dst
		}
	}
}

func topWords(ctx context.Context, dir string, k int) ([]string, error) {
	lines, err := fileio.ReadAllLines(ctx, filesystem.Default(), dir)
	if err != nil {
		return nil, err
	}
	type wc struct {
		w string
		n int64
	}
	var all []wc
	for _, l := range lines {
		w, c, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(c, 10, 64)
		all = append(all, wc{w, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].w < all[j].w })
	var out []string
	for i := 0; i < k && i < len(all); i++ {
		out = append(out, fmt.Sprintf("%s=%d", all[i].w, all[i].n))
	}
	return out, nil
}
