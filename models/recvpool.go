package models

import (
	"sync"
	"sync/atomic"
)

// RecvPool is the memory of lazy RecvBuffers (RecvBuffer.InitLazy): buffers of one size,
// taken by a session only while a partial frame is pending and returned when it is consumed
// or the session ends. Idle sessions hold none, so a server's receive memory follows the
// sessions with a frame in flight, not the sessions connected. The free buffers sit in a
// sync.Pool, which the garbage collector empties over time: memory taken for a burst goes
// back after it.
//
// InUse counts the buffers taken and not yet returned: the resident receive buffers of the
// pool's sessions (see Resident).
type RecvPool struct {
	size  int
	free  sync.Pool
	inUse atomic.Int64
}

// NewRecvPool builds a pool of buffers of size bytes (Config.RecvBufferSize).
func NewRecvPool(size int) (*RecvPool, error) {
	if size <= 0 {
		return nil, badConfig("RecvPool size %d", size)
	}
	p := &RecvPool{size: size}
	p.free.New = func() any { b := make([]byte, size); return &b }
	return p, nil
}

// Size is the size of each buffer: the capacity of the lazy RecvBuffers over the pool.
func (p *RecvPool) Size() int { return p.size }

// InUse is the number of buffers taken and not returned.
func (p *RecvPool) InUse() int { return int(p.inUse.Load()) }

func (p *RecvPool) get() *[]byte {
	p.inUse.Add(1)
	return p.free.Get().(*[]byte)
}

func (p *RecvPool) put(b *[]byte) {
	p.inUse.Add(-1)
	p.free.Put(b)
}
