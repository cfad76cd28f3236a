package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one io_uring instance: the SQ and CQ rings and the SQE array, all mmapped from the
// ring fd (so they live outside the Go heap). Only the owning loop thread touches it; the
// shared head/tail words are read and written with sync/atomic because the kernel is the
// other party.
type ring struct {
	fd         int
	setupFlags uint32
	features   uint32

	sqMem, cqMem, sqeMem []byte

	sqHead, sqTail, sqFlags *uint32
	sqMask, sqEntries       uint32
	sqes                    unsafe.Pointer
	sqLocalTail             uint32 // next SQE index we fill; published to *sqTail by flush

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           unsafe.Pointer
}

// setupFlagSets are tried in order: the best set (single issuer + deferred task work: the
// completions of this ring run only in our own io_uring_enter, no IPIs, no task-work
// interrupts of the loop thread; 6.1+), then cooperative task running (5.19+), then plain.
var setupFlagSets = [setupFlagsFallbacks]uint32{setupFlagsBest, setupFlagsCoop, setupFlagsPortable}

// newRing sets up a ring with sqEntries SQEs and 4x as many CQEs. The caller must be locked to
// its OS thread when the ring uses IORING_SETUP_SINGLE_ISSUER: that thread is the only one
// allowed to submit.
func newRing(sqEntries uint32) (*ring, error) {
	var (
		p   params
		fd  int
		err error
	)
	for _, flags := range setupFlagSets {
		p = params{flags: flags, cqEntries: 4 * sqEntries}
		fd, err = ioUringSetup(sqEntries, &p)
		if err != unix.EINVAL {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("io_uring_setup: %w", err)
	}
	r := &ring{fd: fd, setupFlags: p.flags, features: p.features}
	if err := r.mmap(&p); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *ring) mmap(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap SQ ring: %w", err)
	}
	if single {
		r.cqMem = r.sqMem
	} else {
		r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("mmap CQ ring: %w", err)
		}
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap SQEs: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead = u32(r.sqMem, p.sqOff.head)
	r.sqTail = u32(r.sqMem, p.sqOff.tail)
	r.sqFlags = u32(r.sqMem, p.sqOff.flags)
	r.sqMask = *u32(r.sqMem, p.sqOff.ringMask)
	r.sqEntries = *u32(r.sqMem, p.sqOff.ringEntries)
	r.sqes = unsafe.Pointer(&r.sqeMem[0])
	r.sqLocalTail = atomic.LoadUint32(r.sqTail)
	// The SQ index array maps ring slot i to SQE i once and for all: we always fill the SQE
	// at tail&mask, so no per-submission array write is needed.
	arr := unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.array])), p.sqEntries)
	for i := range arr {
		arr[i] = uint32(i)
	}
	r.cqHead = u32(r.cqMem, p.cqOff.head)
	r.cqTail = u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Pointer(&r.cqMem[p.cqOff.cqes])
	return nil
}

// close unmaps the rings and closes the ring fd. Every request must have completed (the
// caller waits for their CQEs), since memory they reference is freed by their owners next.
func (r *ring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.cqMem != nil && (r.sqMem == nil || &r.cqMem[0] != &r.sqMem[0]) {
		unix.Munmap(r.cqMem)
	}
	r.cqMem = nil
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
		r.sqMem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// unsubmitted is the number of SQEs filled but not yet consumed by the kernel.
func (r *ring) unsubmitted() uint32 { return r.sqLocalTail - atomic.LoadUint32(r.sqHead) }

// getSQE returns the next free SQE, zeroed, or nil when the SQ ring is full (the caller then
// submits with enter and retries; see loop.sqe).
func (r *ring) getSQE() *sqe {
	if r.unsubmitted() >= r.sqEntries {
		return nil
	}
	s := (*sqe)(unsafe.Add(r.sqes, uintptr(r.sqLocalTail&r.sqMask)*unsafe.Sizeof(sqe{})))
	*s = sqe{}
	r.sqLocalTail++
	return s
}

// enter publishes the filled SQEs and makes one io_uring_enter that submits them and, with
// wait, blocks until at least one completion is ready. GETEVENTS is always set: with
// DEFER_TASKRUN that is what runs the completions, and it also flushes a CQ overflow list
// (IORING_SQ_CQ_OVERFLOW under IORING_FEAT_NODROP). EINTR (Go's preemption signals hit
// locked threads too) is retried; EAGAIN/EBUSY (kernel short of memory or overflowed CQ that
// must be drained first) return nil so the caller reaps and comes back.
func (r *ring) enter(wait bool) error {
	atomic.StoreUint32(r.sqTail, r.sqLocalTail)
	for {
		var minComplete uint32
		if wait && r.cqReady() == 0 {
			minComplete = 1
		}
		_, err := ioUringEnter(r.fd, r.unsubmitted(), minComplete, enterGetEvents)
		switch err {
		case nil, errEAGAIN, errEBUSY:
			return nil
		case errEINTR:
			continue
		}
		return err
	}
}

// cqReady is the number of CQEs waiting to be reaped.
func (r *ring) cqReady() uint32 { return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead) }

// overflowed reports the kernel's IORING_SQ_CQ_OVERFLOW flag: completions are parked in the
// overflow list and the next enter with GETEVENTS must not block before flushing them.
func (r *ring) overflowed() bool { return atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0 }

// peekCQE returns the oldest unreaped CQE (copied) and true, or false when the CQ is empty.
// The caller calls advanceCQ after handling it.
func (r *ring) peekCQE() (cqe, bool) {
	head := atomic.LoadUint32(r.cqHead)
	if head == atomic.LoadUint32(r.cqTail) {
		return cqe{}, false
	}
	c := *(*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(cqe{})))
	return c, true
}

func (r *ring) advanceCQ() { atomic.AddUint32(r.cqHead, 1) }

// bufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING, 5.19+): entries buffers of
// size bytes the kernel picks from for IOSQE_BUFFER_SELECT receives. Ring and buffers are
// mmapped (outside the Go heap); the app returns a buffer by writing an entry at tail and
// publishing tail.
type bufRing struct {
	ringMem []byte
	bufMem  []byte
	entries uint16
	size    int
	bgid    uint16
	tail    uint16
	bid0    uint16 // shadow of entry 0's bid, which shares a 32-bit word with the tail
	dirty   bool   // entries written since the last publish
	regFD   int    // ring fd it is registered with, -1 when not
}

// newBufRing maps entries (a power of two ≤ 32768) buffers of size bytes, registers them with
// ring fd as group bgid and provides all of them.
func newBufRing(ringFD int, bgid uint16, entries uint16, size int) (*bufRing, error) {
	if entries == 0 || entries&(entries-1) != 0 || size <= 0 {
		return nil, fmt.Errorf("buffer ring entries %d size %d", entries, size)
	}
	b := &bufRing{entries: entries, size: size, bgid: bgid, regFD: -1}
	var err error
	ringBytes := int(entries) * int(unsafe.Sizeof(ringBuf{}))
	pg := unix.Getpagesize()
	ringBytes = (ringBytes + pg - 1) / pg * pg
	b.ringMem, err = unix.Mmap(-1, 0, ringBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap buffer ring: %w", err)
	}
	b.bufMem, err = unix.Mmap(-1, 0, int(entries)*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b.free()
		return nil, fmt.Errorf("mmap provided buffers: %w", err)
	}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.ringMem[0]))), ringEntries: uint32(entries), bgid: bgid}
	if _, err := ioUringRegister(ringFD, regPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.free()
		return nil, fmt.Errorf("IORING_REGISTER_PBUF_RING: %w", err)
	}
	b.regFD = ringFD
	for i := range entries {
		b.put(i)
	}
	b.publish()
	return b, nil
}

func (b *bufRing) entry(i uint16) *ringBuf {
	return (*ringBuf)(unsafe.Pointer(&b.ringMem[uintptr(i)*unsafe.Sizeof(ringBuf{})]))
}

// buf is the memory of buffer bid.
func (b *bufRing) buf(bid uint16) []byte {
	off := int(bid) * b.size
	return b.bufMem[off : off+b.size : off+b.size]
}

// put queues buffer bid for the kernel again; publish makes the queued entries visible.
func (b *bufRing) put(bid uint16) {
	idx := b.tail & (b.entries - 1)
	e := b.entry(idx)
	e.addr = uint64(uintptr(unsafe.Pointer(&b.bufMem[int(bid)*b.size])))
	e.len = uint32(b.size)
	e.bid = bid
	if idx == 0 {
		b.bid0 = bid
	}
	b.tail++
	b.dirty = true
}

// publish stores the tail with release semantics. Go has no 16-bit atomics, so the 32-bit
// word at offset 12 (entry 0's bid + the tail) is stored whole, with entry 0's bid taken from
// the shadow copy: only this loop ever writes either half.
func (b *bufRing) publish() {
	if !b.dirty {
		return
	}
	b.dirty = false
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b.ringMem[12])), uint32(b.bid0)|uint32(b.tail)<<16)
}

// free unregisters the group and unmaps ring and buffers. No receive may be in flight.
func (b *bufRing) free() error {
	var err error
	if b.regFD >= 0 {
		reg := bufReg{bgid: b.bgid}
		_, err = ioUringRegister(b.regFD, regUnregisterPbufR, unsafe.Pointer(&reg), 1)
		b.regFD = -1
	}
	if b.bufMem != nil {
		err = errors.Join(err, unix.Munmap(b.bufMem))
		b.bufMem = nil
	}
	if b.ringMem != nil {
		err = errors.Join(err, unix.Munmap(b.ringMem))
		b.ringMem = nil
	}
	return err
}
