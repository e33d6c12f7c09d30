// Package datagen is a source of generated records for examples, tests
// and benchmarks: New builds a dag.Source from a function of the record
// index and a random generator, bounded (Count) or unbounded, optionally
// rate limited (Rate) and with event timestamps (Timestamps).
//
// # Determinism
//
// Record i is always gen(i, rnd) where rnd is a *rand.Rand freshly seeded
// from (Seed, i). The records of a bounded source are therefore the same
// for a given seed whatever the parallelism, split layout, batch sizes,
// rate or timing: only their distribution over splits changes. An
// unbounded source's split k of p generates indices k, k+p, k+2p, ...;
// together the splits generate every index exactly once, so the records
// produced up to some index are the same for every parallelism too. (This
// holds as long as gen itself depends only on its arguments.)
package datagen
