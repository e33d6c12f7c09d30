package checkpoint

import (
	"errors"
	"log/slog"
)

// ErrCorrupt is matched (errors.Is) by errors about state or metadata whose
// bytes are not what was written: a CRC-32C mismatch, a short file, a bad
// magic number or an undecodable body.
var ErrCorrupt = errors.New("checkpoint: corrupt")

// ErrUnknownVersion is matched by errors about metadata written in a format
// version this build does not know.
var ErrUnknownVersion = errors.New("checkpoint: unknown metadata version")

// ErrNoCheckpoint is matched by Latest's error when no retained checkpoint
// is valid.
var ErrNoCheckpoint = errors.New("checkpoint: no valid checkpoint")

// ErrSubsumed is matched by Complete's error for a checkpoint whose id is
// not newer than the latest completed one: it is already subsumed and must
// be aborted instead.
var ErrSubsumed = errors.New("checkpoint: subsumed")

// Options tunes a Storage. Start from DefaultOptions; NewStorage replaces
// zero numeric fields with their defaults.
type Options struct {
	// InlineThreshold: state of at most this many bytes is kept inline in
	// the metadata (default 512). A negative value disables inlining.
	InlineThreshold int64
	// MergeEnabled makes a CheckpointWriter append state smaller than
	// MergeThreshold to segment files instead of creating one file per
	// handle.
	MergeEnabled bool
	// MergeThreshold is the size below which state is merged (default
	// 1 MiB).
	MergeThreshold int64
	// MaxSegmentSize is the size at which a segment file rolls over
	// (default 64 MiB).
	MaxSegmentSize int64
	// MaxSpaceAmplification is the ratio of a segment's size to its bytes
	// still referenced above which ReuploadCandidates lists it (default 2).
	MaxSpaceAmplification float64
	// Retain is the number of completed checkpoints kept (default 3).
	Retain int
	// Logger receives warnings and cleanup reports (default slog.Default()).
	Logger *slog.Logger
}

// DefaultOptions returns the default options: 512 B inline threshold,
// merging on below 1 MiB into segments of up to 64 MiB, space
// amplification limit 2 and 3 retained checkpoints.
func DefaultOptions() Options {
	return Options{
		InlineThreshold:       512,
		MergeEnabled:          true,
		MergeThreshold:        1 << 20,
		MaxSegmentSize:        64 << 20,
		MaxSpaceAmplification: 2,
		Retain:                3,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.InlineThreshold == 0 {
		o.InlineThreshold = d.InlineThreshold
	}
	if o.MergeThreshold <= 0 {
		o.MergeThreshold = d.MergeThreshold
	}
	if o.MaxSegmentSize <= 0 {
		o.MaxSegmentSize = d.MaxSegmentSize
	}
	if o.MaxSpaceAmplification <= 0 {
		o.MaxSpaceAmplification = d.MaxSpaceAmplification
	}
	if o.Retain <= 0 {
		o.Retain = d.Retain
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
