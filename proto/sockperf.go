package proto

import (
	"encoding/binary"
	"fmt"
)

// SockperfHeaderSize is sockperf's message header: u64 sequence, u16 flags, u32 total length,
// big-endian (network order), as sockperf's Message class lays it out on the wire.
const SockperfHeaderSize = 14

// sockperf message flags.
const (
	SockperfClient      uint16 = 0x1 // set by the client; the server clears it in the reply
	SockperfPongRequest uint16 = 0x2 // the client wants a reply to this message
	SockperfWarmup      uint16 = 0x4 // warm-up message (still answered when pong is requested)
)

// ParseSockperf parses the message at the front of buf: n == 0 means more bytes are needed.
// A length below the header or over max is an error.
func ParseSockperf(buf []byte, max int) (seq uint64, flags uint16, n int, err error) {
	if len(buf) < SockperfHeaderSize {
		return 0, 0, 0, nil
	}
	seq = binary.BigEndian.Uint64(buf)
	flags = binary.BigEndian.Uint16(buf[8:])
	l := binary.BigEndian.Uint32(buf[10:])
	if l < SockperfHeaderSize {
		return seq, flags, 0, fmt.Errorf("%w: sockperf length %d below header size", ErrProtocol, l)
	}
	if int64(l) > int64(max) {
		return seq, flags, 0, fmt.Errorf("%w: sockperf length %d over limit %d", ErrTooLarge, l, max)
	}
	if len(buf) < int(l) {
		return seq, flags, 0, nil
	}
	return seq, flags, int(l), nil
}

// AppendSockperf appends a client message of size bytes asking for a pong; its payload is the
// pattern of seq.
func AppendSockperf(dst []byte, seq uint64, flags uint16, size int) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, size)...)
	m := dst[off:]
	binary.BigEndian.PutUint64(m, seq)
	binary.BigEndian.PutUint16(m[8:], flags)
	binary.BigEndian.PutUint32(m[10:], uint32(size))
	fill(m[SockperfHeaderSize:], 0, seq, SockperfHeaderSize)
	return dst
}

// ClearClientFlag turns a request at the front of m into its reply in place.
func ClearClientFlag(m []byte) {
	f := binary.BigEndian.Uint16(m[8:])
	binary.BigEndian.PutUint16(m[8:], f&^SockperfClient)
}

type sockperfClient struct{ size int }

func (c *sockperfClient) Size() int { return c.size }

func (c *sockperfClient) Append(dst []byte, seq uint64) []byte {
	return AppendSockperf(dst, seq, SockperfClient|SockperfPongRequest, c.size)
}

func (c *sockperfClient) Next(buf []byte, expect uint64) (Reply, error) {
	seq, flags, n, err := ParseSockperf(buf, MaxMessageSize)
	if err != nil {
		return Reply{N: len(buf)}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n == 0 {
		return Reply{}, nil
	}
	if flags&SockperfClient != 0 || n != c.size || !matches(buf[SockperfHeaderSize:n], 0, seq, SockperfHeaderSize) {
		return Reply{N: n, Seq: seq}, fmt.Errorf("%w: sockperf seq %d: flags %#x length %d", ErrCorrupt, seq, flags, n)
	}
	return Reply{N: n, Seq: seq}, nil
}
