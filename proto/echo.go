package proto

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// echoHeader is the sequence number and CRC-32C the echo client puts in messages of at least
// this many bytes.
const echoHeader = 12

type echoClient struct {
	size int
	src  uint32
}

func (c *echoClient) Size() int { return c.size }

func (c *echoClient) Append(dst []byte, seq uint64) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, c.size)...)
	m := dst[off:]
	if c.size < echoHeader {
		fill(m, c.src, seq, 0)
		return dst
	}
	binary.BigEndian.PutUint64(m, seq)
	fill(m[echoHeader:], c.src, seq, echoHeader)
	binary.BigEndian.PutUint32(m[8:], echoCRC(m))
	return dst
}

func (c *echoClient) Next(buf []byte, expect uint64) (Reply, error) {
	if len(buf) < c.size {
		return Reply{}, nil
	}
	m := buf[:c.size]
	if c.size < echoHeader {
		if !matches(m, c.src, expect, 0) {
			return Reply{N: c.size}, fmt.Errorf("%w: echo message %d does not match what was sent", ErrCorrupt, expect)
		}
		return Reply{N: c.size, Seq: expect, Src: c.src}, nil
	}
	seq := binary.BigEndian.Uint64(m)
	if binary.BigEndian.Uint32(m[8:]) != echoCRC(m) || !matches(m[echoHeader:], c.src, seq, echoHeader) {
		return Reply{N: c.size, Seq: seq}, fmt.Errorf("%w: echo message seq %d: checksum mismatch", ErrCorrupt, seq)
	}
	return Reply{N: c.size, Seq: seq, Src: c.src}, nil
}

// echoCRC covers the sequence number and the body of a message.
func echoCRC(m []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, m[:8]), castagnoli, m[echoHeader:])
}
