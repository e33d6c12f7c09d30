package shuffle_test

import (
	"testing"
	"time"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shuffletest"
)

func TestMemoryConformance(t *testing.T) {
	shuffletest.Run(t, func(t *testing.T) shuffle.Service {
		return shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: 8, PendingReaderTimeout: time.Second})
	})
}

func TestMemoryDefaults(t *testing.T) {
	svc := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer svc.Close()
	if _, ok := svc.(*shuffle.Memory); !ok {
		t.Fatalf("NewMemory returned %T, want *shuffle.Memory", svc)
	}
}
