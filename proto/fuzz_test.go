package proto

import (
	"errors"
	"testing"
)

// The decoders face the network: whatever bytes arrive, they must return a frame inside the
// buffer, ask for more, or reject with one of the package's errors — never panic, never claim
// a length beyond what was given or the limit.

func FuzzParseFramed(f *testing.F) {
	f.Add(AppendFramed(nil, TypeEcho, 1, 1, 64), 1024)
	f.Add(AppendFramed(nil, TypeBroadcast, 9, 1<<40, FramedHeaderSize), 64)
	f.Add([]byte("\x00\x00\x00\x18\x00\x01\x00\x00"), 64)
	f.Add([]byte("GET / HTTP/1.1\r\n"), 1<<20)
	f.Fuzz(func(t *testing.T, buf []byte, max int) {
		if max < FramedHeaderSize || max > 1<<24 {
			max = 1 << 16
		}
		h, n, err := ParseFramed(buf, max)
		switch {
		case err != nil:
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		case n == 0:
		default:
			if n > len(buf) || n > max || n < FramedHeaderSize || uint32(n) != h.Len {
				t.Fatalf("frame of %d bytes from %d bytes (max %d)", n, len(buf), max)
			}
			if framedCRC(buf[:n]) != h.CRC {
				t.Fatal("accepted a frame with a bad checksum")
			}
		}
	})
}

func FuzzParseSockperf(f *testing.F) {
	f.Add(AppendSockperf(nil, 1, SockperfClient|SockperfPongRequest, 64), 1024)
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x0e"), 14)
	f.Add([]byte("garbage that is long enough"), 1<<20)
	f.Fuzz(func(t *testing.T, buf []byte, max int) {
		if max < SockperfHeaderSize || max > 1<<24 {
			max = 1 << 16
		}
		_, _, n, err := ParseSockperf(buf, max)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n != 0 && (n > len(buf) || n > max || n < SockperfHeaderSize) {
			t.Fatalf("message of %d bytes from %d bytes (max %d)", n, len(buf), max)
		}
	})
}

func FuzzClientNext(f *testing.F) {
	f.Add(uint8(0), 64, []byte("anything"))
	f.Add(uint8(1), 24, AppendFramed(nil, TypeEcho, 0, 0, 24))
	f.Add(uint8(2), 14, AppendSockperf(nil, 0, SockperfPongRequest, 14))
	f.Fuzz(func(t *testing.T, which uint8, size int, buf []byte) {
		name := Names[int(which)%len(Names)]
		if size < MinSize(name) || size > 1<<16 {
			size = 64
		}
		c, err := NewClient(name, size, 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Next(buf, 0)
		if r.N > len(buf) || r.N < 0 {
			t.Fatalf("consumed %d of %d bytes", r.N, len(buf))
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
