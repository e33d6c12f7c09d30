package remote_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
	"github.com/dagflow/dagflow/shuffle/shuffletest"
)

// TestConformance runs the shuffle conformance suite with every read going
// through a loopback gRPC Server and Client (writes go to the local
// service, see remoteService).
func TestConformance(t *testing.T) {
	pipelined := shuffle.MemoryConfig{QueueBuffers: 8, PendingReaderTimeout: time.Second}
	variants := []struct {
		name  string
		local func(t *testing.T) shuffle.Service
		sopts remote.ServerOptions
		copts remote.ClientOptions
	}{
		{
			name:  "memory",
			local: func(*testing.T) shuffle.Service { return shuffle.NewMemory(pipelined) },
		},
		{
			// Sort-merge files, S2 on the wire, a small window and the
			// smallest chunks: large buffers cross in hundreds of chunks.
			name: "local-s2-chunked",
			local: func(t *testing.T) shuffle.Service {
				l, err := shuffle.NewLocal(shuffle.LocalConfig{
					Dir: filepath.Join(t.TempDir(), "shuffle"), SortBufferBytes: 256 << 10, Pipelined: pipelined,
				})
				if err != nil {
					t.Fatal(err)
				}
				return l
			},
			sopts: remote.ServerOptions{ChunkBytes: remote.MinChunkBytes},
			copts: remote.ClientOptions{Window: 3, Compression: remote.CompressionS2},
		},
		{
			// The smallest window that is not a ping-pong (Window 1 is
			// covered by TestSlowConsumerBackPressure).
			name:  "memory-window2-s2-refused",
			local: func(*testing.T) shuffle.Service { return shuffle.NewMemory(pipelined) },
			sopts: remote.ServerOptions{DisableCompression: true, ChunkBytes: 64 << 10},
			copts: remote.ClientOptions{Window: 2, Compression: remote.CompressionS2},
		},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			shuffletest.Run(t, func(t *testing.T) shuffle.Service {
				return newRemoteService(t, v.local(t), v.sopts, v.copts)
			})
		})
	}
}
