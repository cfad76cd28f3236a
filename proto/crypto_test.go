package proto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// fixedPair is a client and a server session from fixed private keys (deterministic, for the
// fuzz target and the format check), plus the two hellos.
func fixedPair(tb testing.TB, lim CryptoLimits) (cli, srv *CryptoSession, chello, shello []byte) {
	tb.Helper()
	cpriv, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	spriv, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{2}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	hs := newHandshake(cpriv, lim)
	pub, err := parseHello(hs.Hello(), clientMagic)
	if err != nil {
		tb.Fatal(err)
	}
	shello, srv, err = respond(spriv, pub, hs.Hello(), lim)
	if err != nil {
		tb.Fatal(err)
	}
	cli, err = hs.Accept(shello)
	if err != nil {
		tb.Fatal(err)
	}
	return cli, srv, hs.Hello(), shello
}

// handshake runs the real handshake (random keys) between a CryptoClient and CryptoRespond.
func handshake(tb testing.TB, size int, lim CryptoLimits) (*CryptoClient, *CryptoSession) {
	tb.Helper()
	c, err := newCryptoClient(size, 3, lim)
	if err != nil {
		tb.Fatal(err)
	}
	shello, srv, err := CryptoRespond(c.Hello(), lim)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Accept(shello); err != nil {
		tb.Fatal(err)
	}
	return c, srv
}

// serveFrame is the crypto app's path for one frame: parse, open in place, check the framed
// frame inside, seal the reply in place.
func serveFrame(s *CryptoSession, buf []byte) (int, error) {
	n, err := ParseCryptoFrame(buf, MaxMessageSize)
	if err != nil || n == 0 {
		return n, err
	}
	plain, err := s.OpenFrame(buf[:n])
	if err != nil {
		return n, err
	}
	if _, m, err := ParseFramed(plain, len(plain)); err != nil || m != len(plain) {
		return n, errors.Join(ErrProtocol, err)
	}
	return n, s.SealFrame(buf[:n])
}

func TestCryptoRoundTrip(t *testing.T) {
	for _, size := range []int{CryptoMinSize, 64, 1400, 65536} {
		t.Run("size="+itoa(size), func(t *testing.T) {
			c, srv := handshake(t, size, CryptoLimits{})
			if c.Size() != size || !c.Established() {
				t.Fatalf("Size %d established %v", c.Size(), c.Established())
			}
			var wire []byte
			for seq := range uint64(5) {
				wire = c.Append(wire, seq)
			}
			if len(wire) != 5*size {
				t.Fatalf("5 messages are %d bytes, want %d", len(wire), 5*size)
			}
			for off := 0; off < len(wire); {
				n, err := serveFrame(srv, wire[off:])
				if err != nil || n != size {
					t.Fatalf("server: frame at %d: n %d, %v", off, n, err)
				}
				off += n
			}
			for seq := range uint64(5) {
				if r, err := c.Next(wire[size:size+3], seq); err != nil || r.N != 0 {
					t.Fatalf("partial frame: %+v, %v; want more bytes needed", r, err)
				}
				r, err := c.Next(wire, seq)
				if err != nil || r.N != size || r.Seq != seq || r.Src != 3 {
					t.Fatalf("reply %d: %+v, %v", seq, r, err)
				}
				wire = wire[r.N:]
			}
		})
	}
}

// TestCryptoFormat derives the keys again from the package doc's description with the
// standard library alone and opens a frame the server sealed: the doc and the code agree.
func TestCryptoFormat(t *testing.T) {
	cli, srv, chello, shello := fixedPair(t, CryptoLimits{})
	plain := AppendFramed(nil, TypeEcho, 1, 42, 40)
	frame, err := srv.AppendSeal(nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"IOBc", string(chello[:4]) == "IOBc"}, {"IOBs", string(shello[:4]) == "IOBs"},
		{"version+suite", chello[4] == 1 && chello[5] == 1 && shello[4] == 1 && shello[5] == 1},
		{"length", binary.BigEndian.Uint32(frame) == uint32(len(frame)) && len(frame) == 40+CryptoOverhead},
		{"counter", binary.BigEndian.Uint64(frame[4:]) == 0}} {
		if !tc.ok {
			t.Errorf("format: %s", tc.name)
		}
	}
	spriv, _ := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{2}, 32))
	cpub, _ := ecdh.X25519().NewPublicKey(chello[8:])
	secret, err := spriv.ECDH(cpub)
	if err != nil {
		t.Fatal(err)
	}
	salt := sha256.Sum256(append(append([]byte{}, chello...), shello...))
	km, err := hkdf.Key(sha256.New, secret, salt[:], "iobench crypto v1 server to client", 36)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(km[:32])
	gcm, _ := cipher.NewGCM(block)
	nonce := append(append([]byte{}, km[32:]...), frame[4:12]...)
	got, err := gcm.Open(nil, nonce, frame[12:], frame[:12])
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("independent open: %v (plaintext equal %v)", err, bytes.Equal(got, plain))
	}
	if _, err := cli.Open(nil, frame); err != nil {
		t.Fatalf("client open: %v", err)
	}
}

// TestCryptoKeyPerSession: two sessions seal the same plaintext differently and cannot open
// each other's frames.
func TestCryptoKeyPerSession(t *testing.T) {
	c1, s1 := handshake(t, 64, CryptoLimits{})
	c2, _ := handshake(t, 64, CryptoLimits{})
	m1, m2 := c1.Append(nil, 0), c2.Append(nil, 0)
	if bytes.Equal(m1[CryptoHeaderSize:], m2[CryptoHeaderSize:]) {
		t.Fatal("two sessions sealed the same plaintext identically: keys are not per session")
	}
	if _, err := s1.OpenFrame(m2); !errors.Is(err, ErrAuth) {
		t.Fatalf("session 1 opened session 2's frame: %v", err)
	}
}

func TestCryptoTampered(t *testing.T) {
	for _, tc := range []struct {
		name string
		bit  int // bit index into the frame (byte*8 + bit)
		want error
	}{
		{"ciphertext", (CryptoHeaderSize + 30) * 8, ErrAuth},
		{"tag", (64 - 3) * 8, ErrAuth},
		{"counter", 11*8 + 0, ErrReplay},
		{"counter_high", 4 * 8, ErrReplay},
		{"length_zero", 3*8 + 1, ErrProtocol}, // 64 -> 0: below the minimum
		{"length_longer", 3*8 + 7, ErrAuth},   // 64 -> 65: takes a byte of the next frame
		{"length_huge", 0, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv := handshake(t, 64, CryptoLimits{})
			wire := c.Append(nil, 0)
			wire = c.Append(wire, 1)
			wire[tc.bit/8] ^= 0x80 >> (tc.bit % 8)
			_, err := serveFrame(srv, wire)
			if !errors.Is(err, tc.want) {
				t.Fatalf("tampered %s: %v, want %v", tc.name, err, tc.want)
			}
		})
	}
	t.Run("reply", func(t *testing.T) {
		c, srv := handshake(t, 64, CryptoLimits{})
		wire := c.Append(nil, 0)
		if _, err := serveFrame(srv, wire); err != nil {
			t.Fatal(err)
		}
		wire[40] ^= 1
		if _, err := c.Next(wire, 0); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrAuth) {
			t.Fatalf("client accepted a tampered reply: %v", err)
		}
	})
}

func TestCryptoReplay(t *testing.T) {
	c, srv := handshake(t, 64, CryptoLimits{})
	f0, f1, f2 := c.Append(nil, 0), c.Append(nil, 1), c.Append(nil, 2)
	if _, err := srv.OpenFrame(bytes.Clone(f0)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{{"replayed", f0}, {"skipped", f2}} {
		if _, err := srv.OpenFrame(bytes.Clone(tc.frame)); !errors.Is(err, ErrReplay) || !errors.Is(err, ErrAuth) {
			t.Errorf("%s frame: %v, want ErrReplay", tc.name, err)
		}
	}
	if _, err := srv.OpenFrame(bytes.Clone(f1)); err != nil {
		t.Fatalf("the expected frame after rejected ones: %v", err)
	}
	// A replayed frame with its counter rewritten to the expected one fails the tag: the
	// counter is authenticated.
	forged := bytes.Clone(f0)
	binary.BigEndian.PutUint64(forged[4:], 2)
	if _, err := srv.OpenFrame(forged); !errors.Is(err, ErrAuth) || errors.Is(err, ErrReplay) {
		t.Fatalf("replay with a rewritten counter: %v, want a tag failure", err)
	}
}

func TestCryptoBadHello(t *testing.T) {
	good, err := NewCryptoHandshake(CryptoLimits{})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(good.Hello())) }
	for _, tc := range []struct {
		name  string
		hello []byte
	}{
		{"empty", nil},
		{"truncated", good.Hello()[:20]},
		{"long", append(bytes.Clone(good.Hello()), 0)},
		{"magic", edit(func(p []byte) []byte { copy(p, "IOBs"); return p })},
		{"version", edit(func(p []byte) []byte { p[4] = 2; return p })},
		{"suite", edit(func(p []byte) []byte { p[5] = 9; return p })},
		{"reserved", edit(func(p []byte) []byte { p[7] = 1; return p })},
		{"low_order_point", edit(func(p []byte) []byte { clear(p[8:]); return p })},
		{"http", []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nxxxx")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := CryptoRespond(tc.hello, CryptoLimits{}); !errors.Is(err, ErrHandshake) || !errors.Is(err, ErrAuth) {
				t.Fatalf("CryptoRespond: %v, want ErrHandshake", err)
			}
		})
	}
	t.Run("client", func(t *testing.T) {
		c, err := NewCryptoClient(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Append(nil, 0); len(got) != 0 || !errors.Is(c.Err(), ErrHandshake) {
			t.Fatalf("Append before the handshake: %d bytes, Err %v", len(got), c.Err())
		}
		if _, err := c.Next(make([]byte, 64), 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Next before the handshake: %v", err)
		}
		if err := c.Accept(c.Hello()); !errors.Is(err, ErrHandshake) {
			t.Fatalf("client accepted its own (client) hello: %v", err)
		}
		shello, _, err := CryptoRespond(c.Hello(), CryptoLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Accept(shello); err != nil {
			t.Fatal(err)
		}
		if err := c.Accept(shello); !errors.Is(err, ErrHandshake) {
			t.Fatalf("second Accept: %v", err)
		}
	})
	for _, size := range []int{0, CryptoMinSize - 1, MaxMessageSize + 1} {
		if _, err := NewCryptoClient(size, 1); err == nil {
			t.Errorf("NewCryptoClient(%d) accepted", size)
		}
	}
}

// TestCryptoNonceNeverReused: the counter in each sealed frame is the next one, every nonce of
// a run differs, and at the last counter below the wrap the sender stops with ErrKeyExhausted
// without touching the frame; a receiver refuses a counter at the limit; the byte limit stops
// a key the same way.
func TestCryptoNonceNeverReused(t *testing.T) {
	cli, srv, _, _ := fixedPair(t, CryptoLimits{})
	seen := map[[12]byte]bool{}
	plain := AppendFramed(nil, TypeEcho, 1, 0, 24)
	for i := range uint64(2000) {
		f, err := cli.AppendSeal(nil, plain)
		if err != nil {
			t.Fatal(err)
		}
		if ctr := binary.BigEndian.Uint64(f[4:]); ctr != i {
			t.Fatalf("frame %d carries counter %d", i, ctr)
		}
		if seen[cli.seal.nonce] {
			t.Fatalf("nonce reused at frame %d", i)
		}
		seen[cli.seal.nonce] = true
		if _, err := srv.OpenFrame(f); err != nil {
			t.Fatal(err)
		}
	}

	cli.seal.ctr, srv.open.ctr = math.MaxUint64-1, math.MaxUint64-1
	last, err := cli.AppendSeal(nil, plain)
	if err != nil || binary.BigEndian.Uint64(last[4:]) != math.MaxUint64-1 {
		t.Fatalf("last counter before the wrap: %v", err)
	}
	if _, err := srv.OpenFrame(last); err != nil {
		t.Fatalf("receiver refused the last valid counter: %v", err)
	}
	frame := append(make([]byte, CryptoHeaderSize), plain...)
	frame = append(frame, make([]byte, CryptoTagSize)...)
	before := bytes.Clone(frame)
	if err := cli.SealFrame(frame); !errors.Is(err, ErrKeyExhausted) {
		t.Fatalf("sealing at the wrap: %v, want ErrKeyExhausted", err)
	}
	if !bytes.Equal(frame, before) || cli.seal.ctr != math.MaxUint64 {
		t.Fatal("a refused seal changed the frame or the counter")
	}
	forged := bytes.Clone(last)
	binary.BigEndian.PutUint64(forged[4:], math.MaxUint64)
	if _, err := srv.OpenFrame(forged); !errors.Is(err, ErrKeyExhausted) {
		t.Fatalf("receiver at the wrap: %v, want ErrKeyExhausted", err)
	}

	c, s := handshake(t, 64, CryptoLimits{Bytes: 100}) // 36 plaintext bytes a frame: 2 fit
	for i := range uint64(2) {
		if _, err := serveFrame(s, c.Append(nil, i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Append(nil, 2); len(got) != 0 || !errors.Is(c.Err(), ErrKeyExhausted) {
		t.Fatalf("client past the byte limit: %d bytes, %v", len(got), c.Err())
	}
	if _, err := s.AppendSeal(nil, make([]byte, 36)); !errors.Is(err, ErrKeyExhausted) {
		t.Fatalf("server past the byte limit: %v", err)
	}
}
