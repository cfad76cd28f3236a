// Package proto holds the wire protocols the server apps speak and the load generator drives:
//
//   - echo: raw bytes back (RFC 862), so any echo server is a valid target. The load
//     generator's messages carry a sequence number and CRC-32C when they are 12 bytes or
//     longer, and a pattern derived from (source, sequence) otherwise.
//   - framed: a length-prefixed game-style packet (FramedHeaderSize bytes: length, type,
//     flags, source, sequence, CRC-32C of the payload), the shape of a game server's packets.
//   - sockperf: the framing of the sockperf tool (SockperfHeaderSize bytes, big-endian: u64
//     sequence, u16 flags, u32 total length). The server answers only messages with the
//     pong-request flag, clearing the client flag (see sockperf's Message class).
//   - crypto: framed frames sealed per frame with AES-256-GCM under per-session keys from an
//     X25519 handshake (the seed's CryptoSession); wire format below. CryptoClient is its load
//     generator codec, CryptoRespond and CryptoSession the server's side.
//
// Decoders reject garbage with ErrProtocol and frames over the limit with ErrTooLarge; the
// server apps turn those into a KickPacketError / KickRecvBufferOverFull kick.
//
// Ledger and ClassifyUnanswered are the verification side of the faults scenario: a message
// in flight when the server was killed is counted apart, never as lost or duplicated.
//
// # Crypto wire format
//
// All integers are big-endian. The client speaks first; each side sends one hello of
// CryptoHelloSize (40) bytes:
//
//	[4]byte  magic     "IOBc" from the client, "IOBs" from the server
//	u8       version   1
//	u8       suite     1: X25519, HKDF-SHA256, AES-256-GCM
//	u16      reserved  0
//	[32]byte key       the sender's ephemeral X25519 public key (RFC 7748), new per connection
//
// Both sides compute the X25519 shared secret (crypto/ecdh rejects the all-zero result of a
// low-order point) and derive with HKDF-SHA256 (RFC 5869), the transcript as salt:
//
//	prk                  = HKDF-Extract(salt = SHA-256(clientHello || serverHello), secret)
//	c2sKey || c2sPrefix  = HKDF-Expand(prk, "iobench crypto v1 client to server", 36)
//	s2cKey || s2cPrefix  = HKDF-Expand(prk, "iobench crypto v1 server to client", 36)
//
// a 32-byte AES-256 key and a 4-byte nonce prefix per direction. Then every message in each
// direction is one frame:
//
//	u32      length      whole frame: CryptoHeaderSize (12) + len(plaintext) + CryptoTagSize (16)
//	u64      counter     frames this side sent before this one: 0, 1, 2, ... (per direction)
//	[]byte   ciphertext  AES-256-GCM(key, nonce, plaintext, additional data = the 12 header bytes)
//	[16]byte tag
//
//	nonce = prefix (4 bytes) || counter (8 bytes)
//
// The plaintext of the crypto app is one framed frame (see FramedHeaderSize: type TypeEcho,
// source, sequence, CRC-32C), which the server checks after decryption and echoes sealed with
// the server-to-client key and counter. A receiver accepts only the counter it expects next,
// checked before decryption (ErrReplay: replayed, dropped or reordered), then the tag (ErrAuth);
// a hello that is not as above is ErrHandshake. Nonces are never reused: keys are per session
// and direction, the counter only grows, and a side stops with ErrKeyExhausted before it could
// wrap (DefaultCryptoFrames) or once a key has sealed DefaultCryptoBytes. The handshake has no
// long-term keys: it gives each session its own key, as the workload needs, but does not
// authenticate the server (no certificates).
package proto

import (
	"errors"
	"fmt"
	"hash/crc32"
)

// Name is a protocol name as given to --proto.
type Name string

const (
	Echo     Name = "echo"
	Framed   Name = "framed"
	Sockperf Name = "sockperf"
)

// Names lists the protocols.
var Names = []Name{Echo, Framed, Sockperf}

// Parse validates a protocol name.
func Parse(s string) (Name, error) {
	for _, n := range Names {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown protocol %q (want echo, framed or sockperf)", s)
}

var (
	// ErrProtocol: the bytes are not a valid frame of the protocol.
	ErrProtocol = errors.New("protocol error")
	// ErrTooLarge: the frame declares a length over the limit.
	ErrTooLarge = errors.New("frame too large")
	// ErrCorrupt: a reply does not match what was sent (checksum or pattern mismatch).
	ErrCorrupt = errors.New("corrupt message")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C used by echo and framed messages.
func Checksum(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// fill writes the deterministic pattern of (src, seq) into p, starting at byte offset off of
// the message, so a corrupted or misplaced byte is detected without storing what was sent.
func fill(p []byte, src uint32, seq uint64, off int) {
	x := byte(seq*131) + byte(src*17)
	for i := range p {
		p[i] = x + byte((off+i)*7)
	}
}

// matches reports whether p holds the pattern fill would write.
func matches(p []byte, src uint32, seq uint64, off int) bool {
	x := byte(seq*131) + byte(src*17)
	for i, b := range p {
		if b != x+byte((off+i)*7) {
			return false
		}
	}
	return true
}

// Reply is one message parsed by a Client.
type Reply struct {
	N   int    // bytes consumed
	Seq uint64 // sequence number carried (echo below 12 bytes: the expected one, verified)
	Src uint32 // source connection (framed); the client's own id otherwise
}

// Client encodes the load generator's messages and parses and verifies the replies.
type Client interface {
	// Size is the wire size of one message in bytes.
	Size() int
	// Append appends message seq to dst.
	Append(dst []byte, seq uint64) []byte
	// Next parses the reply at the front of buf. Reply.N == 0 means more bytes are needed.
	// expect is the sequence number the caller expects next (used by short echo messages,
	// which carry no sequence number). It returns an error wrapping ErrCorrupt, ErrProtocol
	// or ErrTooLarge for a reply that is not what was sent.
	Next(buf []byte, expect uint64) (Reply, error)
}

// MinSize is the smallest message size of each protocol.
func MinSize(n Name) int {
	switch n {
	case Framed:
		return FramedHeaderSize
	case Sockperf:
		return SockperfHeaderSize
	}
	return 1
}

// NewClient builds the client codec of protocol n for messages of size bytes from source src.
func NewClient(n Name, size int, src uint32) (Client, error) {
	if _, err := Parse(string(n)); err != nil {
		return nil, err
	}
	if size < MinSize(n) || size > MaxMessageSize {
		return nil, fmt.Errorf("%s: message size %d out of range [%d, %d]", n, size, MinSize(n), MaxMessageSize)
	}
	switch n {
	case Framed:
		return &framedClient{size: size, src: src}, nil
	case Sockperf:
		return &sockperfClient{size: size}, nil
	}
	return &echoClient{size: size, src: src}, nil
}

// MaxMessageSize bounds a message (64 MiB): large enough for bulk runs, small enough to catch
// a garbage length.
const MaxMessageSize = 64 << 20
