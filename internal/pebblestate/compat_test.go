package pebblestate

import "github.com/dagflow/dagflow/internal/checkpoint"

// Checkpoint storage implements the interfaces this package needs.
var (
	_ Uploader   = (*checkpoint.CheckpointWriter)(nil)
	_ Downloader = (*checkpoint.Storage)(nil)
)
