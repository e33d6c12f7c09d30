package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/windowed/job"
	wcjob "github.com/dagflow/dagflow/examples/wordcount/job"
)

// Window parameters of the windowed benchmark.
const (
	WindowSize     = 10 * time.Second
	OutOfOrderness = 2 * time.Second
)

// BaselineWordCount is the straightforward plain Go program: read lines
// with a bufio.Scanner, tokenize each with the wordcount job's Tokenize,
// count in a map, write. TightWordCount is the faster reference.
func BaselineWordCount(input, output string) (int64, string, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	counts := make(map[string]int64)
	var lines int64
	for sc.Scan() {
		lines++
		wcjob.Tokenize(sc.Text(), func(w string) { counts[w]++ })
	}
	if err := sc.Err(); err != nil {
		return 0, "", err
	}
	o, err := os.Create(output)
	if err != nil {
		return 0, "", err
	}
	w := bufio.NewWriterSize(o, 1<<18)
	var buf []byte
	for k, v := range counts {
		buf = append(buf[:0], k...)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, v, 10)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		return 0, "", err
	}
	return lines, fmt.Sprintf("%d words", len(counts)), o.Close()
}

// BaselineWindowed parses the CSV and sums per key and window with the
// same late-data rule, then writes the sums.
func BaselineWindowed(input string) (int64, string, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	type wk struct {
		key   string
		start int64
	}
	size, ooo := WindowSize.Milliseconds(), OutOfOrderness.Milliseconds()
	sums := make(map[wk]int64)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var n, late int64
	wm, maxTS := dag.MinTime, dag.MinTime
	for sc.Scan() {
		line := sc.Bytes()
		a := bytes.IndexByte(line, ',')
		b := bytes.LastIndexByte(line, ',')
		if a < 0 || b <= a {
			return 0, "", fmt.Errorf("bad line %q", line)
		}
		ts, err1 := strconv.ParseInt(string(line[a+1:b]), 10, 64)
		v, err2 := strconv.ParseInt(string(line[b+1:]), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, "", fmt.Errorf("bad line %q", line)
		}
		if n > 0 && n%dag.DefaultBatchSize == 0 {
			wm = max(wm, maxTS-ooo-1)
		}
		n++
		maxTS = max(maxTS, ts)
		start := ts - ((ts%size)+size)%size
		if start+size-1 <= wm {
			late++
			continue
		}
		sums[wk{string(line[:a]), start}] += v
	}
	if err := sc.Err(); err != nil {
		return 0, "", err
	}
	w := bufio.NewWriterSize(io.Discard, 1<<18)
	var buf []byte
	for k, v := range sums {
		buf = append(buf[:0], k.key...)
		buf = strconv.AppendInt(append(buf, '\t'), k.start, 10)
		buf = strconv.AppendInt(append(buf, '\t'), v, 10)
		w.Write(append(buf, '\n'))
	}
	return n, fmt.Sprintf("%d sums, %d late", len(sums), late), w.Flush()
}

// WriteEvents writes events 10ms apart with up to 1.5s disorder over 1000
// keys, so no event is late.
func WriteEvents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(7, 8))
	var buf []byte
	for i := 0; i < n; i++ {
		e := job.Event{Key: "key" + strconv.Itoa(r.IntN(1000)), TS: 1_700_000_000_000 + int64(i)*10 - int64(r.IntN(1500)), Value: int64(r.IntN(1000))}
		buf = append(job.FormatEvent(buf[:0], e), '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
