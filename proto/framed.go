package proto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// FramedHeaderSize is the framed protocol's header:
//
//	u32 length   whole frame, header included (big-endian, as every field)
//	u16 type     TypeEcho, TypeBroadcast, TypeHeartbeat
//	u16 flags    reserved, must be 0
//	u32 source   the sender's id (the load generator's connection number)
//	u64 sequence per source
//	u32 crc      CRC-32C of source, sequence and payload
const FramedHeaderSize = 24

// Frame types.
const (
	TypeEcho      uint16 = 1 // echoed back to the sender
	TypeBroadcast uint16 = 2 // fanned out to the sender's room
	TypeHeartbeat uint16 = 3 // idle keep-alive, echoed
	maxType              = TypeHeartbeat
)

// FramedHeader is a parsed header.
type FramedHeader struct {
	Len   uint32
	Type  uint16
	Flags uint16
	Src   uint32
	Seq   uint64
	CRC   uint32
}

// AppendFramed appends a frame of size bytes (header included) whose payload is the pattern of
// (src, seq).
func AppendFramed(dst []byte, typ uint16, src uint32, seq uint64, size int) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, size)...)
	m := dst[off:]
	binary.BigEndian.PutUint32(m, uint32(size))
	binary.BigEndian.PutUint16(m[4:], typ)
	binary.BigEndian.PutUint32(m[8:], src)
	binary.BigEndian.PutUint64(m[12:], seq)
	fill(m[FramedHeaderSize:], src, seq, FramedHeaderSize)
	binary.BigEndian.PutUint32(m[20:], framedCRC(m))
	return dst
}

// ParseFramed parses the frame at the front of buf. n == 0 (with a nil error) means more bytes
// are needed. A length over max is ErrTooLarge; a bad length, type, flags or checksum is
// ErrProtocol. Both are detected from the header alone where possible, so a garbage length
// is rejected before the server waits for bytes that will never come.
func ParseFramed(buf []byte, max int) (h FramedHeader, n int, err error) {
	if len(buf) < 4 {
		return h, 0, nil
	}
	h.Len = binary.BigEndian.Uint32(buf)
	if h.Len < FramedHeaderSize {
		return h, 0, fmt.Errorf("%w: framed length %d below header size", ErrProtocol, h.Len)
	}
	if int64(h.Len) > int64(max) {
		return h, 0, fmt.Errorf("%w: framed length %d over limit %d", ErrTooLarge, h.Len, max)
	}
	if len(buf) >= 8 {
		h.Type = binary.BigEndian.Uint16(buf[4:])
		h.Flags = binary.BigEndian.Uint16(buf[6:])
		if h.Type == 0 || h.Type > maxType || h.Flags != 0 {
			return h, 0, fmt.Errorf("%w: framed type %d flags %#x", ErrProtocol, h.Type, h.Flags)
		}
	}
	if len(buf) < int(h.Len) {
		return h, 0, nil
	}
	h.Src = binary.BigEndian.Uint32(buf[8:])
	h.Seq = binary.BigEndian.Uint64(buf[12:])
	h.CRC = binary.BigEndian.Uint32(buf[20:])
	if framedCRC(buf[:h.Len]) != h.CRC {
		return h, 0, fmt.Errorf("%w: framed seq %d: checksum mismatch", ErrProtocol, h.Seq)
	}
	return h, int(h.Len), nil
}

type framedClient struct {
	size int
	src  uint32
}

func (c *framedClient) Size() int { return c.size }

func (c *framedClient) Append(dst []byte, seq uint64) []byte {
	return AppendFramed(dst, TypeEcho, c.src, seq, c.size)
}

func (c *framedClient) Next(buf []byte, expect uint64) (Reply, error) {
	h, n, err := ParseFramed(buf, MaxMessageSize)
	if err != nil {
		return Reply{N: len(buf)}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n == 0 {
		return Reply{}, nil
	}
	if !matches(buf[FramedHeaderSize:n], h.Src, h.Seq, FramedHeaderSize) {
		return Reply{N: n, Seq: h.Seq, Src: h.Src}, fmt.Errorf("%w: framed seq %d: payload mismatch", ErrCorrupt, h.Seq)
	}
	return Reply{N: n, Seq: h.Seq, Src: h.Src}, nil
}

// NewBroadcastClient is the framed client whose messages ask the server to fan out to the
// sender's room (TypeBroadcast); replies come from every member, Reply.Src says whose.
func NewBroadcastClient(size int, src uint32) (Client, error) {
	if size < FramedHeaderSize || size > MaxMessageSize {
		return nil, fmt.Errorf("broadcast: message size %d out of range [%d, %d]", size, FramedHeaderSize, MaxMessageSize)
	}
	return &broadcastClient{framedClient{size: size, src: src}}, nil
}

type broadcastClient struct{ framedClient }

func (c *broadcastClient) Append(dst []byte, seq uint64) []byte {
	return AppendFramed(dst, TypeBroadcast, c.src, seq, c.size)
}

// framedCRC is the CRC-32C of a frame's source, sequence and payload, so a flipped bit in the
// addressing fields is caught as surely as one in the payload.
func framedCRC(frame []byte) uint32 {
	c := crc32.Update(0, castagnoli, frame[8:20])
	return crc32.Update(c, castagnoli, frame[FramedHeaderSize:])
}
