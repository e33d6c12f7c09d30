package sql

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/datagen"
	"github.com/dagflow/dagflow/sql/row"
	"github.com/dagflow/dagflow/sql/types"
)

// datagenConnector generates rows, after Flink's datagen connector:
//
//	'number-of-rows'       bounded with that many rows (else unbounded)
//	'rows-per-second'      rate limit of the whole source
//	'fields.C.kind'        'random' (default) or 'sequence'
//	'fields.C.start'/'end' a sequence's first and last value (required);
//	                       the source ends after the shortest sequence
//	'fields.C.min'/'max'   bounds of a random number (inclusive)
//	'fields.C.length'      length of a random VARCHAR (default 100)
//	'fields.C.max-past'    a random TIMESTAMP lies up to this many ms
//	                       before the generation time (default 0: now)
//
// Row i of a bounded source is the same in every run: the random values
// of a row come from a generator seeded with its index.
type datagenConnector struct{}

// Sink implements Connector.
func (datagenConnector) Sink(*Table) (dag.Sink[row.Row], error) {
	return nil, fmt.Errorf("the datagen connector is a source only")
}

// fieldGen sets field j of b for row index i.
type fieldGen func(b *row.Builder, j int, i int64, rnd *rand.Rand)

// Source implements Connector.
func (datagenConnector) Source(g *dag.Graph, t *Table) (dag.Stream[row.Row], error) {
	gens := map[string]fieldGen{}
	count := int64(-1)
	if v := t.Option("number-of-rows", ""); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return dag.Stream[row.Row]{}, fmt.Errorf("datagen: 'number-of-rows' = %q: want a whole number >= 0", v)
		}
		count = n
	}
	for _, c := range t.Declared {
		gen, seqLen, err := datagenField(t, c)
		if err != nil {
			return dag.Stream[row.Row]{}, err
		}
		gens[strings.ToLower(c.Name)] = gen
		if seqLen >= 0 && (count < 0 || seqLen < count) {
			count = seqLen
		}
	}
	for k := range t.Options {
		rest, ok := strings.CutPrefix(k, "fields.")
		if !ok {
			if !slices.Contains([]string{"connector", "number-of-rows", "rows-per-second"}, k) {
				return dag.Stream[row.Row]{}, fmt.Errorf("datagen: unknown option %q", k)
			}
			continue
		}
		col, opt, _ := strings.Cut(rest, ".")
		if t.Declared.Index(col) < 0 {
			return dag.Stream[row.Row]{}, fmt.Errorf("datagen: option %q names no physical column", k)
		}
		if !slices.Contains([]string{"kind", "start", "end", "min", "max", "length", "max-past"}, opt) {
			return dag.Stream[row.Row]{}, fmt.Errorf("datagen: unknown option %q (fields.%s.kind, start, end, min, max, length or max-past)", k, col)
		}
	}
	var opts []datagen.Option
	if count >= 0 {
		opts = append(opts, datagen.Count(count))
	}
	if v := t.Option("rows-per-second", ""); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0) || math.IsInf(r, 0) {
			return dag.Stream[row.Row]{}, fmt.Errorf("datagen: 'rows-per-second' = %q: want a positive number", v)
		}
		opts = append(opts, datagen.Rate(r))
	}
	phys := t.Physical
	fields := make([]fieldGen, len(phys))
	for j, c := range phys {
		fields[j] = gens[strings.ToLower(c.Name)]
	}
	n := len(phys)
	pool := &sync.Pool{New: func() any { return row.NewBuilder(n) }}
	src := datagen.New(func(i int64, rnd *rand.Rand) row.Row {
		b := pool.Get().(*row.Builder)
		for j, f := range fields {
			f(b, j, i, rnd)
		}
		r := b.Build()
		pool.Put(b)
		return r
	}, opts...)
	return dag.FromSource(g, "source-"+t.Name, src, nil, dag.WithCoder[row.Row](rowCoder(phys))), nil
}

// datagenField returns the generator of column c and, for a sequence,
// its length (else -1).
func datagenField(t *Table, c types.Column) (fieldGen, int64, error) {
	opt := func(name string) string { return t.Option("fields."+strings.ToLower(c.Name)+"."+name, "") }
	bad := func(format string, args ...any) (fieldGen, int64, error) {
		return nil, 0, fmt.Errorf("datagen: column %s: %s", c.Name, fmt.Sprintf(format, args...))
	}
	intOpt := func(name string, def int64) (int64, error) {
		v := opt(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("datagen: column %s: 'fields.%s.%s' = %q is not a whole number", c.Name, c.Name, name, v)
		}
		return n, nil
	}
	kind := strings.ToLower(opt("kind"))
	switch kind {
	case "sequence":
		if opt("start") == "" || opt("end") == "" {
			return bad("a sequence needs 'fields.%s.start' and 'fields.%s.end'", c.Name, c.Name)
		}
		start, err := intOpt("start", 0)
		if err != nil {
			return nil, 0, err
		}
		end, err := intOpt("end", 0)
		if err != nil {
			return nil, 0, err
		}
		if end < start {
			return bad("sequence end %d is before its start %d", end, start)
		}
		switch c.Type.Kind {
		case types.Bigint, types.Timestamp, types.Decimal:
			// DECIMAL: the sequence counts whole units.
			m := int64(1)
			if c.Type.Kind == types.Decimal {
				m = pow10(c.Type.Scale)
			}
			return func(b *row.Builder, j int, i int64, _ *rand.Rand) { b.SetInt(j, (start+i)*m) }, end - start + 1, nil
		case types.Double:
			return func(b *row.Builder, j int, i int64, _ *rand.Rand) { b.SetFloat(j, float64(start+i)) }, end - start + 1, nil
		case types.Varchar:
			return func(b *row.Builder, j int, i int64, _ *rand.Rand) {
				var buf [20]byte
				b.SetBytes(j, strconv.AppendInt(buf[:0], start+i, 10))
			}, end - start + 1, nil
		}
		return bad("a sequence of %s is not supported", c.Type)
	case "", "random":
	default:
		return bad("'fields.%s.kind' = %q: want 'random' or 'sequence'", c.Name, kind)
	}
	switch c.Type.Kind {
	case types.Bigint, types.Decimal:
		lo, err := intOpt("min", math.MinInt64)
		if err != nil {
			return nil, 0, err
		}
		hi, err := intOpt("max", math.MaxInt64)
		if err != nil {
			return nil, 0, err
		}
		if hi < lo {
			return bad("max %d is below min %d", hi, lo)
		}
		m := int64(1)
		if c.Type.Kind == types.Decimal {
			m = pow10(c.Type.Scale)
		}
		span := uint64(hi - lo)
		return func(b *row.Builder, j int, _ int64, rnd *rand.Rand) {
			var v uint64
			if span == math.MaxUint64 {
				v = rnd.Uint64()
			} else {
				v = rnd.Uint64N(span + 1)
			}
			b.SetInt(j, (lo+int64(v))*m)
		}, -1, nil
	case types.Double:
		lo, hi := 0.0, 1.0
		for name, p := range map[string]*float64{"min": &lo, "max": &hi} {
			if v := opt(name); v != "" {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return bad("'fields.%s.%s' = %q is not a number", c.Name, name, v)
				}
				*p = f
			}
		}
		if hi < lo {
			return bad("max %v is below min %v", hi, lo)
		}
		return func(b *row.Builder, j int, _ int64, rnd *rand.Rand) { b.SetFloat(j, lo+rnd.Float64()*(hi-lo)) }, -1, nil
	case types.Boolean:
		return func(b *row.Builder, j int, _ int64, rnd *rand.Rand) { b.SetInt(j, int64(rnd.IntN(2))) }, -1, nil
	case types.Varchar:
		n, err := intOpt("length", 100)
		if err != nil {
			return nil, 0, err
		}
		if n < 0 || n > 1<<20 {
			return bad("length %d: want 0 to %d", n, 1<<20)
		}
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
		return func(b *row.Builder, j int, _ int64, rnd *rand.Rand) {
			s := make([]byte, n)
			for k := range s {
				s[k] = letters[rnd.IntN(len(letters))]
			}
			b.SetBytes(j, s)
		}, -1, nil
	case types.Timestamp:
		past, err := intOpt("max-past", 0)
		if err != nil {
			return nil, 0, err
		}
		if past < 0 {
			return bad("max-past %d is negative", past)
		}
		return func(b *row.Builder, j int, _ int64, rnd *rand.Rand) {
			b.SetInt(j, time.Now().UnixMilli()-rnd.Int64N(past+1))
		}, -1, nil
	}
	return bad("random values of %s are not supported", c.Type)
}

// pow10 returns 10^n.
func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
