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
	iofs "io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
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
	if c.output == "" && dagflow.ClusterRole() != "" {
		fmt.Fprintln(stderr, "wordcount: --output is required when the job runs on a cluster")
		return 2
	}
	if c.input == "" && dagflow.IsDriver() {
		dir, err := os.MkdirTemp("", "dagflow-wordcount-input-")
		if err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		c.input = filepath.Join(dir, "sample.txt")
		if err := job.WriteSample(c.input, c.sampleLines, 1); err != nil {
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
	if c.output != "" && dagflow.IsDriver() {
		if err := checkOutputEmpty(ctx, c.output); err != nil {
			fmt.Fprintln(stderr, "wordcount:", err)
			return 1
		}
	}
	g := job.Build(c.input, c.output, dag.Config{Parallelism: c.parallelism, Mode: c.mode})
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

// checkOutputEmpty refuses an output directory that already holds
// committed part files: new results would be mixed with old ones.
func checkOutputEmpty(ctx context.Context, dir string) error {
	fs, path, err := filesystems.Default().Resolve(dir)
	if err != nil {
		return err
	}
	entries, err := fs.List(ctx, path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", dir, err)
	}
	for _, e := range entries {
		if !filesystem.Hidden(e.Path) {
			return fmt.Errorf("output directory %s is not empty (holds %s); choose another or remove it", dir, filesystem.BaseName(e.Path))
		}
	}
	return nil
}

func topWords(ctx context.Context, dir string, k int) ([]string, error) {
	lines, err := fileio.ReadAllLines(ctx, filesystems.Default(), dir)
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
