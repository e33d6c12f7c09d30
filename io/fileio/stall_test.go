package fileio

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

func TestStallHunt(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		n := rnd.IntN(200000)
		content := make([]byte, n)
		for j := range content {
			switch rnd.IntN(20) {
			case 0:
				content[j] = '\n'
			case 1:
				content[j] = '\r'
			default:
				content[j] = byte(rnd.IntN(256))
			}
		}
		if rnd.IntN(3) == 0 {
			for j := range content {
				if content[j] == '\n' {
					content[j] = 'x'
				}
			}
		}
		p := filepath.Join(dir, "f.txt")
		writeFile(t, p, content)
		size := max(int64(rnd.IntN(512))+1, int64(len(content)/64))
		start := time.Now()
		got, err := readSource[string](t, Lines(p).With(WithSplitSize(size), WithBufferSize(4096)), 3, rnd.IntN(16)+1)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, "x", got, refLines(string(content)))
		if d := time.Since(start); d > time.Second {
			t.Fatalf("slow: %v n=%d size=%d", d, n, size)
		}
	}
}
