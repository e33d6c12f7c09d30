package main

import (
	"io"
)

func windowed(out io.Writer, dir string, events, par, rounds int) error { return nil }
