package uring

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

var (
	probeOnce sync.Once
	probeErr  error
)

// available runs the feature probe once per process.
func available() error {
	probeOnce.Do(func() { probeErr = probe() })
	return probeErr
}

// probe checks, on a throwaway ring, everything the engine relies on: io_uring_setup works
// (not disabled by sysctl kernel.io_uring_disabled, not blocked by seccomp), the features
// NODROP and FAST_POLL, the opcodes (IORING_REGISTER_PROBE), provided-buffer rings
// (IORING_REGISTER_PBUF_RING, 5.19) and a real multishot recv with buffer selection (6.0),
// which has no feature bit and is tried on a socketpair instead.
func probe() error {
	runtime.LockOSThread() // SINGLE_ISSUER: one thread submits
	defer runtime.UnlockOSThread()
	r, err := newRing(8)
	if err != nil {
		return setupUnsupported(err)
	}
	defer r.close()
	for _, f := range []struct {
		bit  uint32
		name string
	}{{featNoDrop, "IORING_FEAT_NODROP"}, {featFastPoll, "IORING_FEAT_FAST_POLL"}} {
		if r.features&f.bit == 0 {
			return models.Unsupported(Name, "kernel lacks "+f.name)
		}
	}
	if err := probeOpcodes(r.fd); err != nil {
		return err
	}
	br, err := newBufRing(r.fd, 0, 2, 64)
	if err != nil {
		return models.Unsupported(Name, err.Error())
	}
	defer br.free()
	return probeMultishotRecv(r, br)
}

// setupUnsupported says why io_uring_setup failed, naming the usual culprits.
func setupUnsupported(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return models.Unsupported(Name, "io_uring_setup: EPERM (disabled by sysctl kernel.io_uring_disabled or a seccomp filter)")
	case errors.Is(err, unix.ENOSYS):
		return models.Unsupported(Name, "io_uring_setup: ENOSYS (kernel built without io_uring, or seccomp)")
	}
	return models.Unsupported(Name, err.Error())
}

func probeOpcodes(fd int) error {
	const nOps = 256
	buf := make([]byte, int(unsafe.Sizeof(probeHeader{}))+nOps*int(unsafe.Sizeof(probeOp{})))
	if _, err := ioUringRegister(fd, regProbe, unsafe.Pointer(&buf[0]), nOps); err != nil {
		return models.Unsupported(Name, "IORING_REGISTER_PROBE: "+err.Error())
	}
	hdr := (*probeHeader)(unsafe.Pointer(&buf[0]))
	ops := unsafe.Slice((*probeOp)(unsafe.Pointer(&buf[unsafe.Sizeof(probeHeader{})])), nOps)
	for _, u := range usedOpcodes {
		if u.op >= hdr.opsLen || ops[u.op].flags&ioUringOpSupported == 0 {
			return models.Unsupported(Name, "kernel lacks "+u.name)
		}
	}
	return nil
}

func probeMultishotRecv(r *ring, br *bufRing) error {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return models.Unsupported(Name, "socketpair: "+err.Error())
	}
	defer unix.Close(sp[0])
	peerOpen := true
	defer func() {
		if peerOpen {
			unix.Close(sp[1])
		}
	}()
	s := r.getSQE()
	s.opcode = opcRecv
	s.fd = int32(sp[0])
	s.ioprio = recvMultishot
	s.flags = sqeBufferSelect
	s.bufGroup = br.bgid
	s.userData = 1
	if _, err := unix.Write(sp[1], []byte{'x'}); err != nil {
		return models.Unsupported(Name, "socketpair write: "+err.Error())
	}
	var first *cqe
	for {
		if err := r.enter(true); err != nil {
			return models.Unsupported(Name, "io_uring_enter: "+err.Error())
		}
		c, ok := r.peekCQE()
		if !ok {
			continue
		}
		r.advanceCQ()
		if first == nil {
			first = &c
			if c.flags&cqeFMore != 0 { // armed: end it by closing the peer, then wait for that
				unix.Close(sp[1])
				peerOpen = false
				continue
			}
		}
		if c.flags&cqeFMore == 0 {
			break
		}
	}
	if first.res != 1 || first.flags&cqeFBuffer == 0 || first.flags&cqeFMore == 0 {
		return models.Unsupported(Name, "kernel lacks multishot recv with provided buffers (IORING_RECV_MULTISHOT, 6.0+)")
	}
	return nil
}
