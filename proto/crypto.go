package proto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The crypto protocol: framed packets sealed per frame with AES-256-GCM under per-session,
// per-direction keys from an X25519 handshake (the seed's CryptoSession). The exact wire
// format is in the package doc.

// Sizes of the crypto protocol.
const (
	CryptoHelloSize  = 40 // each handshake message
	CryptoHeaderSize = 12 // u32 length, u64 counter
	CryptoTagSize    = 16 // AES-GCM tag
	// CryptoOverhead is what sealing adds to a plaintext.
	CryptoOverhead = CryptoHeaderSize + CryptoTagSize
	// CryptoMinSize is the smallest crypto message of the load generator: a sealed framed
	// header.
	CryptoMinSize = CryptoOverhead + FramedHeaderSize
)

// Limits of one session key (per direction).
const (
	// DefaultCryptoFrames: a sender seals frames with counters 0 .. DefaultCryptoFrames-1; the
	// 64-bit counter never wraps, so a nonce is never reused under a key.
	DefaultCryptoFrames uint64 = math.MaxUint64
	// DefaultCryptoBytes bounds the plaintext sealed under one key: 2^38 bytes (256 GiB), inside
	// the AES-GCM margin of RFC 8446 section 5.5 (2^24.5 records of 2^14 bytes). It is reached
	// long before the frame counter could wrap.
	DefaultCryptoBytes uint64 = 1 << 38
)

var (
	// ErrAuth: a frame failed authentication (the GCM tag does not match). ErrReplay and
	// ErrHandshake match it too: all three end the session as an authentication failure.
	ErrAuth = errors.New("authentication failed")
	// ErrReplay: a frame's counter is not the next one (replayed, dropped or reordered).
	ErrReplay = fmt.Errorf("%w: frame counter out of order", ErrAuth)
	// ErrHandshake: a hello that is not a valid one.
	ErrHandshake = fmt.Errorf("%w: bad handshake", ErrAuth)
	// ErrKeyExhausted: the session key reached its frame or byte limit; the session must end
	// (a new connection makes a new key).
	ErrKeyExhausted = errors.New("session key exhausted")
)

var (
	clientMagic = [4]byte{'I', 'O', 'B', 'c'}
	serverMagic = [4]byte{'I', 'O', 'B', 's'}
)

const (
	cryptoVersion = 1
	cryptoSuite   = 1 // X25519, HKDF-SHA256, AES-256-GCM
	infoC2S       = "iobench crypto v1 client to server"
	infoS2C       = "iobench crypto v1 server to client"
	keyAndPrefix  = 32 + 4
)

// CryptoLimits bound one session key; zero fields mean the defaults.
type CryptoLimits struct {
	Frames uint64 // frames per direction
	Bytes  uint64 // plaintext bytes per direction
}

func (l CryptoLimits) withDefaults() CryptoLimits {
	if l.Frames == 0 {
		l.Frames = DefaultCryptoFrames
	}
	if l.Bytes == 0 {
		l.Bytes = DefaultCryptoBytes
	}
	return l
}

// cryptoDir is one direction's key and counters.
type cryptoDir struct {
	aead  cipher.AEAD
	nonce [12]byte // prefix (4 bytes) then the counter, rewritten per frame
	ctr   uint64   // counter of the next frame
	bytes uint64   // plaintext bytes so far
}

// use checks the limits for a frame of n plaintext bytes with counter ctr and sets the nonce.
func (d *cryptoDir) use(ctr uint64, n int, lim CryptoLimits) error {
	if ctr >= lim.Frames || d.bytes+uint64(n) > lim.Bytes || d.bytes+uint64(n) < d.bytes {
		return fmt.Errorf("%w: frame %d, %d bytes sealed", ErrKeyExhausted, ctr, d.bytes)
	}
	binary.BigEndian.PutUint64(d.nonce[4:], ctr)
	return nil
}

// CryptoSession is one side of an established session: the key it seals with and the key it
// opens with, each with its counter. Not safe for concurrent use: a session's frames are
// sealed in order by one goroutine at a time (as OnRecv and a load generator's connection
// are), and opened likewise.
type CryptoSession struct {
	seal, open cryptoDir
	lim        CryptoLimits
}

// CryptoHandshake is the client's side of the handshake: Hello, then Accept the server's.
type CryptoHandshake struct {
	priv  *ecdh.PrivateKey
	hello [CryptoHelloSize]byte
	lim   CryptoLimits
}

// NewCryptoHandshake makes a fresh ephemeral key for one connection.
func NewCryptoHandshake(lim CryptoLimits) (*CryptoHandshake, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return newHandshake(priv, lim), nil
}

func newHandshake(priv *ecdh.PrivateKey, lim CryptoLimits) *CryptoHandshake {
	h := &CryptoHandshake{priv: priv, lim: lim.withDefaults()}
	putHello(h.hello[:], clientMagic, priv.PublicKey())
	return h
}

// Hello is the client's first message (CryptoHelloSize bytes).
func (h *CryptoHandshake) Hello() []byte { return h.hello[:] }

// Accept takes the server's hello and returns the client's session. An invalid hello is
// ErrHandshake.
func (h *CryptoHandshake) Accept(serverHello []byte) (*CryptoSession, error) {
	pub, err := parseHello(serverHello, serverMagic)
	if err != nil {
		return nil, err
	}
	return derive(h.priv, pub, h.hello[:], serverHello, false, h.lim)
}

// CryptoRespond is the server's side: it checks the client's hello, makes its own ephemeral
// key and returns its hello (to send back) and the server's session.
func CryptoRespond(clientHello []byte, lim CryptoLimits) (serverHello []byte, s *CryptoSession, err error) {
	pub, err := parseHello(clientHello, clientMagic)
	if err != nil {
		return nil, nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return respond(priv, pub, clientHello, lim)
}

func respond(priv *ecdh.PrivateKey, pub *ecdh.PublicKey, clientHello []byte, lim CryptoLimits) ([]byte, *CryptoSession, error) {
	hello := make([]byte, CryptoHelloSize)
	putHello(hello, serverMagic, priv.PublicKey())
	s, err := derive(priv, pub, clientHello, hello, true, lim.withDefaults())
	if err != nil {
		return nil, nil, err
	}
	return hello, s, nil
}

func putHello(p []byte, magic [4]byte, pub *ecdh.PublicKey) {
	copy(p, magic[:])
	p[4], p[5], p[6], p[7] = cryptoVersion, cryptoSuite, 0, 0
	copy(p[8:], pub.Bytes())
}

func parseHello(p []byte, magic [4]byte) (*ecdh.PublicKey, error) {
	if len(p) != CryptoHelloSize {
		return nil, fmt.Errorf("%w: hello of %d bytes, want %d", ErrHandshake, len(p), CryptoHelloSize)
	}
	if !bytes.Equal(p[:4], magic[:]) || p[4] != cryptoVersion || p[5] != cryptoSuite || p[6] != 0 || p[7] != 0 {
		return nil, fmt.Errorf("%w: magic, version or suite % x", ErrHandshake, p[:8])
	}
	pub, err := ecdh.X25519().NewPublicKey(p[8:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	return pub, nil
}

// derive computes the shared secret and the two directions' keys (see the package doc).
func derive(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, clientHello, serverHello []byte, server bool, lim CryptoLimits) (*CryptoSession, error) {
	shared, err := priv.ECDH(peer) // rejects the all-zero result of a low-order point
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	th := sha256.New()
	th.Write(clientHello)
	th.Write(serverHello)
	prk, err := hkdf.Extract(sha256.New, shared, th.Sum(nil))
	if err != nil {
		return nil, err
	}
	c2s, err := newDir(prk, infoC2S)
	if err != nil {
		return nil, err
	}
	s2c, err := newDir(prk, infoS2C)
	if err != nil {
		return nil, err
	}
	s := &CryptoSession{lim: lim}
	if server {
		s.open, s.seal = c2s, s2c
	} else {
		s.seal, s.open = c2s, s2c
	}
	return s, nil
}

func newDir(prk []byte, info string) (cryptoDir, error) {
	km, err := hkdf.Expand(sha256.New, prk, info, keyAndPrefix)
	if err != nil {
		return cryptoDir{}, err
	}
	block, err := aes.NewCipher(km[:32])
	if err != nil {
		return cryptoDir{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return cryptoDir{}, err
	}
	d := cryptoDir{aead: aead}
	copy(d.nonce[:4], km[32:])
	return d, nil
}

// ParseCryptoFrame checks the header of the frame at the front of buf: n == 0 (nil error)
// means more bytes are needed; a length over max is ErrTooLarge, one below CryptoOverhead is
// ErrProtocol. It authenticates nothing: OpenFrame does.
func ParseCryptoFrame(buf []byte, max int) (n int, err error) {
	if len(buf) < 4 {
		return 0, nil
	}
	l := binary.BigEndian.Uint32(buf)
	if l < CryptoOverhead {
		return 0, fmt.Errorf("%w: crypto frame length %d below %d", ErrProtocol, l, CryptoOverhead)
	}
	if int64(l) > int64(max) {
		return 0, fmt.Errorf("%w: crypto frame length %d over limit %d", ErrTooLarge, l, max)
	}
	if len(buf) < int(l) {
		return 0, nil
	}
	return int(l), nil
}

// SealFrame seals frame in place: frame is CryptoHeaderSize bytes of room, the plaintext, and
// CryptoTagSize bytes of room. It writes the header (length, the next counter), encrypts the
// plaintext and writes the tag. At the key's limit it returns ErrKeyExhausted and leaves
// frame as it was (nothing is sealed with a used nonce).
func (s *CryptoSession) SealFrame(frame []byte) error {
	n := len(frame) - CryptoOverhead
	if n < 0 || uint64(len(frame)) > math.MaxUint32 {
		return fmt.Errorf("%w: crypto frame of %d bytes", ErrProtocol, len(frame))
	}
	d := &s.seal
	if err := d.use(d.ctr, n, s.lim); err != nil {
		return err
	}
	hdr := frame[:CryptoHeaderSize]
	binary.BigEndian.PutUint32(hdr, uint32(len(frame)))
	binary.BigEndian.PutUint64(hdr[4:], d.ctr)
	plain := frame[CryptoHeaderSize : CryptoHeaderSize+n]
	d.aead.Seal(plain[:0], d.nonce[:], plain, hdr)
	d.ctr++
	d.bytes += uint64(n)
	return nil
}

// AppendSeal appends the frame sealing plaintext to dst.
func (s *CryptoSession) AppendSeal(dst, plaintext []byte) ([]byte, error) {
	off := len(dst)
	dst = append(dst, make([]byte, CryptoHeaderSize)...)
	dst = append(dst, plaintext...)
	dst = append(dst, make([]byte, CryptoTagSize)...)
	if err := s.SealFrame(dst[off:]); err != nil {
		return dst[:off], err
	}
	return dst, nil
}

// OpenFrame authenticates and decrypts the whole frame in place (frame[:n] as returned by
// ParseCryptoFrame) and returns the plaintext, a view into frame. A counter that is not the
// next expected one is ErrReplay (checked first), a bad tag ErrAuth, a counter or byte count
// at the key's limit ErrKeyExhausted. On an error frame's contents are undefined.
func (s *CryptoSession) OpenFrame(frame []byte) ([]byte, error) {
	ct, err := s.check(frame)
	if err != nil {
		return nil, err
	}
	plain, err := s.open.aead.Open(ct[:0], s.open.nonce[:], ct, frame[:CryptoHeaderSize])
	if err != nil {
		return nil, fmt.Errorf("%w: crypto frame %d", ErrAuth, s.open.ctr)
	}
	s.opened(len(plain))
	return plain, nil
}

// Open is OpenFrame into dst (appended to it) instead of in place; frame is not modified.
func (s *CryptoSession) Open(dst, frame []byte) ([]byte, error) {
	ct, err := s.check(frame)
	if err != nil {
		return dst, err
	}
	out, err := s.open.aead.Open(dst, s.open.nonce[:], ct, frame[:CryptoHeaderSize])
	if err != nil {
		return dst, fmt.Errorf("%w: crypto frame %d", ErrAuth, s.open.ctr)
	}
	s.opened(len(out) - len(dst))
	return out, nil
}

// check validates frame's header against the receive state and returns ciphertext+tag.
func (s *CryptoSession) check(frame []byte) ([]byte, error) {
	if len(frame) < CryptoOverhead || binary.BigEndian.Uint32(frame) != uint32(len(frame)) {
		return nil, fmt.Errorf("%w: crypto frame of %d bytes with length field %d", ErrProtocol, len(frame), binary.BigEndian.Uint32(frame))
	}
	d := &s.open
	if ctr := binary.BigEndian.Uint64(frame[4:]); ctr != d.ctr {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrReplay, ctr, d.ctr)
	}
	if err := d.use(d.ctr, len(frame)-CryptoOverhead, s.lim); err != nil {
		return nil, err
	}
	return frame[CryptoHeaderSize:], nil
}

func (s *CryptoSession) opened(n int) {
	s.open.ctr++
	s.open.bytes += uint64(n)
}

// CryptoClient is the load generator's codec of the crypto app (a Client): framed messages
// sealed with the session key, replies opened and verified (counter, tag, then the framed
// sequence and checksum inside). Per connection: send Hello, pass the server's CryptoHelloSize
// reply bytes to Accept, then Append and Next as with any Client.
type CryptoClient struct {
	hs    *CryptoHandshake
	s     *CryptoSession
	inner framedClient
	plain []byte // Next's decryption buffer
	err   error
}

var _ Client = (*CryptoClient)(nil)

// NewCryptoClient builds the codec of one connection, with a fresh ephemeral key, for
// messages of size wire bytes (at least CryptoMinSize) from source src.
func NewCryptoClient(size int, src uint32) (*CryptoClient, error) {
	return newCryptoClient(size, src, CryptoLimits{})
}

func newCryptoClient(size int, src uint32, lim CryptoLimits) (*CryptoClient, error) {
	if size < CryptoMinSize || size > MaxMessageSize {
		return nil, fmt.Errorf("crypto: message size %d out of range [%d, %d]", size, CryptoMinSize, MaxMessageSize)
	}
	hs, err := NewCryptoHandshake(lim)
	if err != nil {
		return nil, err
	}
	return &CryptoClient{hs: hs, inner: framedClient{size: size - CryptoOverhead, src: src}}, nil
}

// Hello is the connection's first message.
func (c *CryptoClient) Hello() []byte { return c.hs.Hello() }

// Accept takes the server's hello (exactly CryptoHelloSize bytes); it is ErrHandshake when
// that is not a valid hello or Accept was already called.
func (c *CryptoClient) Accept(serverHello []byte) error {
	if c.s != nil {
		return fmt.Errorf("%w: second server hello", ErrHandshake)
	}
	s, err := c.hs.Accept(serverHello)
	if err != nil {
		return err
	}
	c.s = s
	return nil
}

// Established reports whether Accept succeeded.
func (c *CryptoClient) Established() bool { return c.s != nil }

// Err is the error that made Append append nothing: no handshake yet, or ErrKeyExhausted.
func (c *CryptoClient) Err() error { return c.err }

// Size is the wire size of one message, overhead included.
func (c *CryptoClient) Size() int { return c.inner.size + CryptoOverhead }

// Append appends sealed message seq. Before Accept, or once the key is exhausted, it appends
// nothing and Err says why: a caller checks that dst grew.
func (c *CryptoClient) Append(dst []byte, seq uint64) []byte {
	if c.s == nil {
		c.err = fmt.Errorf("%w: Append before the handshake", ErrHandshake)
		return dst
	}
	off := len(dst)
	dst = append(dst, make([]byte, CryptoHeaderSize)...)
	dst = c.inner.Append(dst, seq)
	dst = append(dst, make([]byte, CryptoTagSize)...)
	if err := c.s.SealFrame(dst[off:]); err != nil {
		c.err = err
		return dst[:off]
	}
	return dst
}

// Next opens and verifies the reply at the front of buf (see Client.Next). Every failure
// wraps ErrCorrupt (and ErrAuth, ErrReplay, ErrProtocol or ErrTooLarge as the cause).
func (c *CryptoClient) Next(buf []byte, expect uint64) (Reply, error) {
	if c.s == nil {
		return Reply{N: len(buf)}, fmt.Errorf("%w: %w: reply before the handshake", ErrCorrupt, ErrProtocol)
	}
	n, err := ParseCryptoFrame(buf, MaxMessageSize)
	if err != nil {
		return Reply{N: len(buf)}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n == 0 {
		return Reply{}, nil
	}
	c.plain, err = c.s.Open(c.plain[:0], buf[:n])
	if err != nil {
		return Reply{N: n}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	r, err := c.inner.Next(c.plain, expect)
	if err == nil && r.N != len(c.plain) {
		err = fmt.Errorf("%w: crypto frame holds %d bytes, its framed frame %d", ErrCorrupt, len(c.plain), r.N)
	}
	r.N = n
	return r, err
}
