package epoll

// tag is the 64-bit epoll_event.data of one registration. It carries indexes, never a
// pointer: the kernel hands it back verbatim, and a Go pointer hidden in an integer would be
// invisible to the garbage collector. A session tag names its service, its slot in that
// service's session array and the slot's generation when it was registered; the loop drops
// an event whose generation no longer matches (the session closed earlier in the same
// epoll_wait batch and its fd number, or its slot, may already be reused).
//
// Layout, high bit first: kind(4) | service(12) | slot(24) | generation(24).
type tag uint64

const (
	tagGenBits  = 24
	tagSlotBits = 24
	tagSvcBits  = 12
	tagKindBits = 4

	genMask  = 1<<tagGenBits - 1
	slotMask = 1<<tagSlotBits - 1
	svcMask  = 1<<tagSvcBits - 1
	kindMask = 1<<tagKindBits - 1

	slotShift = tagGenBits
	svcShift  = slotShift + tagSlotBits
	kindShift = svcShift + tagSvcBits

	// maxServices is how many services one engine can have open at once.
	maxServices = 1 << tagSvcBits
	// maxSlots is the largest SessionPool a service can have.
	maxSlots = 1 << tagSlotBits
)

// tagKind says what a registration is.
type tagKind uint8

const (
	kindNone     tagKind = iota
	kindWake             // the loop's eventfd
	kindListener         // a service's listening socket (service index only)
	kindSession          // a session socket (service, slot, generation)
)

func makeTag(k tagKind, svc, slot int, gen uint32) tag {
	return tag(uint64(k&kindMask)<<kindShift |
		uint64(svc&svcMask)<<svcShift |
		uint64(slot&slotMask)<<slotShift |
		uint64(gen&genMask))
}

func (t tag) kind() tagKind { return tagKind(t >> kindShift & kindMask) }
func (t tag) svc() int      { return int(t >> svcShift & svcMask) }
func (t tag) slot() int     { return int(t >> slotShift & slotMask) }
func (t tag) gen() uint32   { return uint32(t & genMask) }

// split and joinTag map a tag onto the two 32-bit halves of epoll_data as
// golang.org/x/sys/unix.EpollEvent spells them on every architecture (Fd, Pad).
func (t tag) split() (lo, hi int32) { return int32(uint32(t)), int32(uint32(t >> 32)) }

func joinTag(lo, hi int32) tag { return tag(uint64(uint32(lo)) | uint64(uint32(hi))<<32) }
