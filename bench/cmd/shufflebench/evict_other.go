//go:build !linux

package main

import (
	"errors"
	"os"
)

// evict is not implemented outside Linux: cold reads may then be served
// from the page cache (the report says "evicted: false").
func evict(*os.File) error { return errors.New("page cache eviction needs Linux") }
