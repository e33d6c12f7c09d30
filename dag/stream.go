package dag

import "reflect"

// streamSrc is one producer of a stream: a vertex output port.
type streamSrc struct {
	v    *vertex
	port int
}

// Stream is a typed handle to the records of one or more vertex outputs
// (several after Union). It is a value; methods return modified copies that
// carry exchange settings to the next operator.
type Stream[T any] struct {
	g     *Graph
	srcs  []streamSrc
	props edgeProps
}

// Graph returns the graph the stream belongs to.
func (s Stream[T]) Graph() *Graph { return s.g }

// Exchange returns the stream with the exchange mode of the edge(s) to its
// next consumer set to m.
func (s Stream[T]) Exchange(m ExchangeMode) Stream[T] {
	s.props.mode = m
	return s
}

// Partition returns the stream with the partitioner of the edge(s) to its
// next consumer set to p. Hash is chosen by keyed operators; use KeyBy.
func (s Stream[T]) Partition(p Partitioner) Stream[T] {
	if p == Hash && s.g != nil {
		s.g.errorf("%w: Partition(Hash) on %s: hash partitioning needs a key, use KeyBy", ErrInvalid, vertexLabel(s.srcs[0].v))
	}
	s.props.part = p
	return s
}

// Rebalance is Partition(Rebalance).
func (s Stream[T]) Rebalance() Stream[T] { return s.Partition(Rebalance) }

// Broadcast is Partition(Broadcast).
func (s Stream[T]) Broadcast() Stream[T] { return s.Partition(Broadcast) }

// Forward is Partition(Forward).
func (s Stream[T]) Forward() Stream[T] { return s.Partition(Forward) }

// Blocking is Exchange(Blocking).
func (s Stream[T]) Blocking() Stream[T] { return s.Exchange(Blocking) }

// Pipelined is Exchange(Pipelined).
func (s Stream[T]) Pipelined() Stream[T] { return s.Exchange(Pipelined) }

// valid reports whether the handle refers to a graph; it records an error
// for zero handles.
func (s Stream[T]) valid(op string) bool {
	return s.g != nil && len(s.srcs) > 0
}

// Keyed is a stream partitioned by a key. Keyed operators (Aggregate,
// Reduce, Window, Process, WindowJoin) consume it through a Hash edge, so
// all records of one key reach the same subtask.
type Keyed[K comparable, T any] struct {
	s     Stream[T]
	keyFn func(T) K
	hash  func(K) uint64
}

// KeyBy partitions s by key. The key type must be a built-in scalar, a
// string, or have a Coder (used to hash it deterministically across
// processes).
func KeyBy[T any, K comparable](s Stream[T], key func(T) K) Keyed[K, T] {
	k := Keyed[K, T]{s: s, keyFn: key}
	if s.g == nil {
		return k
	}
	if key == nil {
		s.g.errorf("%w: KeyBy on %s: nil key function", ErrInvalid, vertexLabel(s.srcs[0].v))
		return k
	}
	h, err := keyHasher[K]()
	if err != nil {
		s.g.errorf("%w: KeyBy on %s: %v", ErrInvalid, vertexLabel(s.srcs[0].v), err)
	}
	k.hash = h
	return k
}

// Stream returns the underlying, unpartitioned stream.
func (k Keyed[K, T]) Stream() Stream[T] { return k.s }

// recordHash returns func(T) uint64 hashing a record by its key.
func (k Keyed[K, T]) recordHash() func(T) uint64 {
	kf, h := k.keyFn, k.hash
	if kf == nil || h == nil {
		return nil
	}
	return func(v T) uint64 { return h(kf(v)) }
}

// Union merges streams of the same type. Records keep their timestamps;
// the watermark is the minimum over the inputs.
func Union[T any](streams ...Stream[T]) Stream[T] {
	var out Stream[T]
	for _, s := range streams {
		if s.g == nil {
			continue
		}
		if out.g == nil {
			out.g = s.g
			out.props = s.props
		} else if out.g != s.g {
			s.g.errorf("%w: Union of streams from different graphs", ErrInvalid)
			continue
		}
		out.srcs = append(out.srcs, s.srcs...)
	}
	return out
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Option configures an operator.
type Option func(*opts)

type opts struct {
	name        string
	parallelism int
	parSet      bool
	noChain     bool
	coder       any
}

// Name names the operator (shown in plans, metrics and errors).
func Name(name string) Option { return func(o *opts) { o.name = name } }

// Parallelism sets the operator's parallelism (>= 1).
func Parallelism(n int) Option {
	return func(o *opts) { o.parallelism, o.parSet = n, true }
}

// DisableChaining keeps the operator out of its producer's chain.
func DisableChaining() Option { return func(o *opts) { o.noChain = true } }

// WithCoder sets the coder of the operator's output type, needed when
// records of a type without a built-in coder cross a network edge.
func WithCoder[T any](c Coder[T]) Option { return func(o *opts) { o.coder = c } }

func collect(options []Option) opts {
	var o opts
	for _, f := range options {
		if f != nil {
			f(&o)
		}
	}
	return o
}
