package uring

// The io_uring ABI as this package uses it, from include/uapi/linux/io_uring.h, plus the three
// raw system calls (io_uring_setup(2), io_uring_enter(2), io_uring_register(2)). Only the
// constants and struct fields the backend touches are declared.

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// System call numbers: the same on every Linux architecture since 5.1 (the "new" unified
// syscall table), so no per-arch file is needed.
const (
	sysIOUringSetup    = 425
	sysIOUringEnter    = 426
	sysIOUringRegister = 427
)

// io_uring_setup flags (IORING_SETUP_*).
const (
	setupCQSize         = 1 << 3
	setupClamp          = 1 << 4
	setupSubmitAll      = 1 << 7
	setupCoopTaskrun    = 1 << 8
	setupSingleIssuer   = 1 << 12
	setupDeferTaskrun   = 1 << 13
	setupFlagsBest      = setupCQSize | setupClamp | setupSubmitAll | setupSingleIssuer | setupDeferTaskrun
	setupFlagsCoop      = setupCQSize | setupClamp | setupSubmitAll | setupCoopTaskrun
	setupFlagsPortable  = setupCQSize | setupClamp
	setupFlagsFallbacks = 3
)

// Features reported in io_uring_params.features (IORING_FEAT_*).
const (
	featSingleMmap = 1 << 0
	featNoDrop     = 1 << 1
	featFastPoll   = 1 << 5
)

// mmap offsets of the three ring regions (IORING_OFF_*).
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

// Opcodes (enum io_uring_op).
const (
	opcNop         = 0
	opcSendmsg     = 9
	opcTimeout     = 11
	opcAccept      = 13
	opcAsyncCancel = 14
	opcConnect     = 16
	opcRead        = 22
	opcWrite       = 23
	opcRecv        = 27
)

// usedOpcodes are checked with IORING_REGISTER_PROBE by the feature probe.
var usedOpcodes = []struct {
	op   uint8
	name string
}{
	{opcNop, "IORING_OP_NOP"},
	{opcSendmsg, "IORING_OP_SENDMSG"},
	{opcAccept, "IORING_OP_ACCEPT"},
	{opcAsyncCancel, "IORING_OP_ASYNC_CANCEL"},
	{opcConnect, "IORING_OP_CONNECT"},
	{opcRead, "IORING_OP_READ"},
	{opcWrite, "IORING_OP_WRITE"},
	{opcTimeout, "IORING_OP_TIMEOUT"},
	{opcRecv, "IORING_OP_RECV"},
}

// SQE flags (IOSQE_*) and per-opcode flags.
const (
	sqeBufferSelect = 1 << 5

	acceptMultishot = 1 << 0 // sqe.ioprio of IORING_OP_ACCEPT
	recvPollFirst   = 1 << 0 // sqe.ioprio of IORING_OP_RECV: IORING_RECVSEND_POLL_FIRST
	recvMultishot   = 1 << 1 // sqe.ioprio of IORING_OP_RECV

	cancelAll = 1 << 0 // IORING_ASYNC_CANCEL_ALL: every match, not only the first
	cancelFD  = 1 << 1 // IORING_ASYNC_CANCEL_FD: match on sqe.fd
	cancelAny = 1 << 2 // IORING_ASYNC_CANCEL_ANY: match every request of the ring
)

// CQE flags (IORING_CQE_F_*).
const (
	cqeFBuffer       = 1 << 0
	cqeFMore         = 1 << 1
	cqeFSockNonEmpty = 1 << 2
	cqeBufferShift   = 16
)

// SQ ring flags (IORING_SQ_*).
const sqCQOverflow = 1 << 1

// io_uring_enter flags.
const enterGetEvents = 1 << 0

// io_uring_register opcodes.
const (
	regProbe           = 8
	regPbufRing        = 22
	regUnregisterPbufR = 23
)

const ioUringOpSupported = 1 << 0

// sqRingOffsets is struct io_sqring_offsets.
type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqRingOffsets is struct io_cqring_offsets.
type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params (120 bytes).
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqRingOffsets
	cqOff                                                                  cqRingOffsets
}

// sqe is struct io_uring_sqe (64 bytes). opFlags is the union of rw_flags, msg_flags,
// accept_flags, cancel_flags...; bufGroup is buf_index/buf_group.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufGroup    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad         uint64
}

// kernelTimespec is struct __kernel_timespec, the argument of IORING_OP_TIMEOUT.
type kernelTimespec struct{ sec, nsec int64 }

// cqe is struct io_uring_cqe (16 bytes; no CQE32).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// bufReg is struct io_uring_buf_reg, the argument of IORING_REGISTER_PBUF_RING.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// ringBuf is struct io_uring_buf, one entry of a provided-buffer ring. The ring's tail is
// overlaid on the resv field of entry 0 (offset 14).
type ringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16
}

// probeHeader and probeOp are struct io_uring_probe and io_uring_probe_op.
type probeHeader struct {
	lastOp, opsLen uint8
	resv           uint16
	resv2          [3]uint32
}

type probeOp struct {
	op, resv uint8
	flags    uint16
	resv2    uint32
}

// Errnos boxed once, so the hot paths compare and return them without converting.
var (
	errEINTR  error = unix.EINTR
	errEAGAIN error = unix.EAGAIN
	errEBUSY  error = unix.EBUSY
)

func errnoErr(e unix.Errno) error {
	switch e {
	case unix.EINTR:
		return errEINTR
	case unix.EAGAIN:
		return errEAGAIN
	case unix.EBUSY:
		return errEBUSY
	}
	return e
}

// ioUringSetup is io_uring_setup(2): https://man7.org/linux/man-pages/man2/io_uring_setup.2.html
func ioUringSetup(entries uint32, p *params) (int, error) {
	fd, _, e := unix.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if e != 0 {
		return -1, errnoErr(e)
	}
	return int(fd), nil
}

// ioUringEnter is io_uring_enter(2) without a signal mask:
// https://man7.org/linux/man-pages/man2/io_uring_enter.2.html. It may block, so it goes
// through Syscall6 (the runtime hands the P to another thread meanwhile).
func ioUringEnter(fd int, toSubmit, minComplete, flags uint32) (int, error) {
	n, _, e := unix.Syscall6(sysIOUringEnter, uintptr(fd), uintptr(toSubmit), uintptr(minComplete),
		uintptr(flags), 0, 0)
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

// ioUringRegister is io_uring_register(2):
// https://man7.org/linux/man-pages/man2/io_uring_register.2.html
func ioUringRegister(fd int, op uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	n, _, e := unix.Syscall6(sysIOUringRegister, uintptr(fd), uintptr(op), uintptr(arg),
		uintptr(nrArgs), 0, 0)
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}
