package shuffle

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

const (
	minClassShift = 8  // smallest pooled buffer: 256 B
	maxClassShift = 20 // largest pooled buffer: 1 MiB; larger ones are not pooled
	numClasses    = maxClassShift - minClassShift + 1
)

// pbuf is one pipelined buffer: a copy of what the producer wrote, shared by
// every subpartition queue it sits in (broadcast) and released when the last
// holder lets go.
type pbuf struct {
	data  []byte // the buffer; cap(data) is the size class
	refs  atomic.Int32
	class int8 // size class, -1 if not pooled
}

// bufPool hands out pbufs in power-of-two size classes and counts the ones in
// use, which is what BuffersInUse reports.
type bufPool struct {
	classes [numClasses]sync.Pool
	inUse   atomic.Int64
}

func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClassShift
	if c >= numClasses {
		return -1
	}
	return c
}

// get returns a pbuf holding a copy of b with one reference.
func (p *bufPool) get(b []byte) *pbuf {
	c := sizeClass(len(b))
	var pb *pbuf
	if c >= 0 {
		if v := p.classes[c].Get(); v != nil {
			pb = v.(*pbuf)
		} else {
			pb = &pbuf{data: make([]byte, 0, 1<<(c+minClassShift)), class: int8(c)}
		}
	} else {
		pb = &pbuf{data: make([]byte, 0, len(b)), class: -1}
	}
	pb.data = append(pb.data[:0], b...)
	pb.refs.Store(1)
	p.inUse.Add(1)
	return pb
}

// unref drops one reference and recycles the buffer when it was the last.
func (p *bufPool) unref(pb *pbuf) {
	if pb.refs.Add(-1) != 0 {
		return
	}
	p.inUse.Add(-1)
	if pb.class >= 0 {
		pb.data = pb.data[:0]
		p.classes[pb.class].Put(pb)
	}
}
