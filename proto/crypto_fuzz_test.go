package proto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzCryptoOpen feeds arbitrary bytes to the server's side of an established session
// (fixed keys): the frame parse and the in-place open must return a frame inside the buffer,
// ask for more, or reject with one of the package's errors; never panic, and never accept a
// frame the client did not seal (an accepted frame must be exactly the client's frame 0).
func FuzzCryptoOpen(f *testing.F) {
	cli, base, _, _ := fixedPair(f, CryptoLimits{})
	valid, err := cli.AppendSeal(nil, AppendFramed(nil, TypeEcho, 1, 0, 40))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, 1024)
	tampered := bytes.Clone(valid)
	tampered[len(tampered)-1] ^= 1
	f.Add(tampered, 1024)
	f.Add(valid[:CryptoHeaderSize], 1024)
	f.Add([]byte("\x00\x00\x00\x1c\x00\x00\x00\x00\x00\x00\x00\x00"), 28)
	f.Fuzz(func(t *testing.T, buf []byte, max int) {
		if max < CryptoOverhead || max > 1<<24 {
			max = 1 << 16
		}
		srv := *base // a fresh copy of the receive state each run
		n, err := ParseCryptoFrame(buf, max)
		switch {
		case err != nil:
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected parse error kind: %v", err)
			}
			return
		case n == 0:
			return
		case n > len(buf) || n > max || n < CryptoOverhead:
			t.Fatalf("frame of %d bytes from %d bytes (max %d)", n, len(buf), max)
		}
		frame := bytes.Clone(buf[:n])
		plain, err := srv.OpenFrame(frame)
		if err != nil {
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrKeyExhausted) {
				t.Fatalf("unexpected open error kind: %v", err)
			}
			return
		}
		if !bytes.Equal(buf[:n], valid) || len(plain) != n-CryptoOverhead {
			t.Fatalf("accepted a frame the client never sealed: % x", buf[:n])
		}
	})
}

// FuzzCryptoHello: whatever arrives as a client hello, the server either answers with a
// hello of its own (for a valid one) or rejects with ErrHandshake; never panics.
func FuzzCryptoHello(f *testing.F) {
	hs, err := NewCryptoHandshake(CryptoLimits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hs.Hello())
	f.Add([]byte("IOBc\x01\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, hello []byte) {
		shello, s, err := CryptoRespond(hello, CryptoLimits{})
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if s == nil || len(shello) != CryptoHelloSize || len(hello) != CryptoHelloSize {
			t.Fatalf("accepted a %d-byte hello, answered %d bytes", len(hello), len(shello))
		}
	})
}
