package apps_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
	"github.com/iobench/iobench/proto"
)

func newCrypto(t *testing.T) models.Handler {
	t.Helper()
	h, err := apps.New("crypto", apps.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// cryptoDial connects and runs the handshake; the connection is closed at cleanup.
func cryptoDial(t *testing.T, addr net.Addr, size int, src uint32) (*net.TCPConn, *proto.CryptoClient) {
	t.Helper()
	c := modeltest.Dial(t, addr)
	codec, err := proto.NewCryptoClient(size, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(codec.Hello()); err != nil {
		t.Fatal(err)
	}
	hello := make([]byte, proto.CryptoHelloSize)
	if _, err := io.ReadFull(c, hello); err != nil {
		t.Fatalf("server hello: %v", err)
	}
	if err := codec.Accept(hello); err != nil {
		t.Fatal(err)
	}
	return c, codec
}

// TestCryptoEcho: connections with different frame sizes exchange sealed frames; every reply
// is opened and verified by the client codec; the app counts handshakes and frames exactly.
func TestCryptoEcho(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := newCrypto(t)
		srv := serve(t, backend, h, models.Config{})
		sizes := []int{proto.CryptoMinSize, 64, 1400, 16 << 10}
		const frames = 50
		var peers []peer
		for i, size := range sizes {
			c, codec := cryptoDial(t, srv.addr, size, uint32(i))
			peers = append(peers, peer{c, codec})
		}
		exchangeAll(t, peers, frames)
		srv.waitReason(t, len(sizes), models.KickRecv0)
		st := stats(t, h)
		if st["crypto_handshakes"] != uint64(len(sizes)) || st["crypto_frames"] != uint64(len(sizes)*frames) {
			t.Errorf("app stats %v, want %d handshakes and %d frames", st, len(sizes), len(sizes)*frames)
		}
	})
}

// TestCryptoHostile: every bad input ends its session with its reason and counter, and the
// server keeps serving another client.
func TestCryptoHostile(t *testing.T) {
	flip := func(off int) func(f []byte) { return func(f []byte) { f[off] ^= 0x10 } }
	for _, tc := range []struct {
		name    string
		counter string
		reason  models.KickReason
		// send writes the hostile bytes (after a good frame 0 and its reply, unless raw).
		send func(t *testing.T, c net.Conn, codec *proto.CryptoClient)
		raw  bool // send before any handshake
	}{
		{"tampered_ciphertext", "crypto_auth_failed", models.KickAuthFailed, tamper(flip(30)), false},
		{"tampered_tag", "crypto_auth_failed", models.KickAuthFailed, tamper(flip(60)), false},
		{"tampered_counter", "crypto_replayed", models.KickAuthFailed, tamper(flip(11)), false},
		{"tampered_length", "crypto_malformed", models.KickAuthFailed, tamper(func(f []byte) { f[3] = 10 }), false},
		{"replayed", "crypto_replayed", models.KickAuthFailed, func(t *testing.T, c net.Conn, codec *proto.CryptoClient) {
			write(t, c, replayOf(t, c, codec))
		}, false},
		{"oversize", "crypto_oversize", models.KickRecvBufferOverFull, func(t *testing.T, c net.Conn, _ *proto.CryptoClient) {
			write(t, c, []byte{0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) // 1 MiB declared
		}, false},
		{"not_framed_inside", "crypto_bad_frame", models.KickPacketError, nil, false},
		{"bad_handshake", "crypto_bad_handshake", models.KickAuthFailed, func(t *testing.T, c net.Conn, _ *proto.CryptoClient) {
			write(t, c, bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 3)) // 48 bytes: not a hello
		}, true},
		{"low_order_key", "crypto_bad_handshake", models.KickAuthFailed, func(t *testing.T, c net.Conn, _ *proto.CryptoClient) {
			write(t, c, append([]byte("IOBc\x01\x01\x00\x00"), make([]byte, 32)...))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, backend string) {
				h := newCrypto(t)
				srv := serve(t, backend, h, models.Config{})
				if tc.raw {
					c := modeltest.Dial(t, srv.addr)
					tc.send(t, c, nil)
					modeltest.ExpectClosed(t, c)
				} else if tc.send == nil {
					sendNotFramed(t, srv.addr)
				} else {
					c, codec := cryptoDial(t, srv.addr, 64, 1)
					if err := exchange(c, codec, 0, 1); err != nil {
						t.Fatal(err)
					}
					tc.send(t, c, codec)
					modeltest.ExpectClosed(t, c)
				}
				srv.waitReason(t, 1, tc.reason)
				if st := stats(t, h); st[tc.counter] != 1 {
					t.Errorf("app stats %v: want %s = 1", st, tc.counter)
				}
				c, codec := cryptoDial(t, srv.addr, 64, 2)
				if err := exchange(c, codec, 0, 3); err != nil {
					t.Fatalf("server no longer serving after %s: %v", tc.name, err)
				}
			})
		})
	}
}

func write(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
}

// tamper sends the next frame with edit applied.
func tamper(edit func(f []byte)) func(t *testing.T, c net.Conn, codec *proto.CryptoClient) {
	return func(t *testing.T, c net.Conn, codec *proto.CryptoClient) {
		f := codec.Append(nil, 1)
		edit(f)
		write(t, c, f)
	}
}

// replayOf returns frame 1 after sending it and reading its reply: sending it again replays.
func replayOf(t *testing.T, c net.Conn, codec *proto.CryptoClient) []byte {
	t.Helper()
	f := codec.Append(nil, 1)
	write(t, c, bytes.Clone(f))
	reply := make([]byte, len(f))
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Next(reply, 1); err != nil {
		t.Fatal(err)
	}
	return f
}

// sendNotFramed seals a plaintext that is not a framed frame with a valid session key.
func sendNotFramed(t *testing.T, addr net.Addr) {
	t.Helper()
	c := modeltest.Dial(t, addr)
	hs, err := proto.NewCryptoHandshake(proto.CryptoLimits{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, hs.Hello())
	hello := make([]byte, proto.CryptoHelloSize)
	if _, err := io.ReadFull(c, hello); err != nil {
		t.Fatal(err)
	}
	s, err := hs.Accept(hello)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.AppendSeal(nil, []byte("authenticated, but not a framed frame"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, f)
	modeltest.ExpectClosed(t, c)
}

// TestCryptoPeers: peers that stop short or trickle: a truncated hello gets no answer and
// no kick until the peer closes (recv_0); a hello and a frame trickled a few bytes at a time
// work; a peer that closes mid-frame ends with recv_0; a peer that never reads is kicked when
// its send queue bound is reached, and the server keeps serving others meanwhile.
func TestCryptoPeers(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		start := func(t *testing.T) *server {
			return serve(t, backend, newCrypto(t), models.Config{SendQueueLimit: 256 << 10})
		}
		t.Run("truncated_hello", func(t *testing.T) {
			srv := start(t)
			c := modeltest.Dial(t, srv.addr)
			codec, _ := proto.NewCryptoClient(64, 1)
			write(t, c, codec.Hello()[:20])
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := c.Read(make([]byte, 64)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("server answered a truncated hello: %d bytes, %v", n, err)
			}
			c.Close()
			srv.waitReason(t, 1, models.KickRecv0)
		})
		t.Run("trickled", func(t *testing.T) {
			srv := start(t)
			c := modeltest.Dial(t, srv.addr)
			codec, _ := proto.NewCryptoClient(64, 2)
			trickle(t, c, codec.Hello(), 3)
			hello := make([]byte, proto.CryptoHelloSize)
			if _, err := io.ReadFull(c, hello); err != nil {
				t.Fatal(err)
			}
			if err := codec.Accept(hello); err != nil {
				t.Fatal(err)
			}
			trickle(t, c, codec.Append(nil, 0), 7)
			reply := make([]byte, 64)
			if _, err := io.ReadFull(c, reply); err != nil {
				t.Fatal(err)
			}
			if r, err := codec.Next(reply, 0); err != nil || r.Seq != 0 {
				t.Fatalf("trickled frame's reply: %+v, %v", r, err)
			}
			c.Close()
			srv.waitReason(t, 1, models.KickRecv0)
		})
		t.Run("closed_mid_frame", func(t *testing.T) {
			srv := start(t)
			c, codec := cryptoDial(t, srv.addr, 64, 3)
			write(t, c, codec.Append(nil, 0)[:30])
			c.Close()
			srv.waitReason(t, 1, models.KickRecv0)
		})
		t.Run("never_reads", func(t *testing.T) {
			srv := start(t)
			c, codec := cryptoDial(t, srv.addr, 16<<10, 4)
			done := make(chan struct{})
			go func() { // floods until the server closes the connection
				defer close(done)
				c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				var buf []byte
				for seq := uint64(0); ; seq++ {
					buf = codec.Append(buf[:0], seq)
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			o, ocodec := cryptoDial(t, srv.addr, 64, 5)
			if err := exchange(o, ocodec, 0, 20); err != nil {
				t.Errorf("another client while one floods: %v", err)
			}
			modeltest.WaitFor(t, "the flooder kicked", func() bool { return srv.tr.Reasons()[models.KickSendQueueFull] == 1 })
			c.Close()
			<-done
		})
	})
}

// trickle writes p a few bytes at a time.
func trickle(t *testing.T, c net.Conn, p []byte, step int) {
	t.Helper()
	for len(p) > 0 {
		n := min(step, len(p))
		write(t, c, p[:n])
		p = p[n:]
		time.Sleep(time.Millisecond)
	}
}

// TestCryptoWire checks the server's bytes on the wire: the hello is a server hello, each
// reply frame carries the server-to-client counter 0, 1, 2, ... and never the plaintext.
func TestCryptoWire(t *testing.T) {
	h := newCrypto(t)
	srv := serve(t, "netstd", h, models.Config{})
	c, codec := cryptoDial(t, srv.addr, 64, 9)
	for seq := range uint64(3) {
		f := codec.Append(nil, seq)
		plain := proto.AppendFramed(nil, proto.TypeEcho, 9, seq, 64-proto.CryptoOverhead)
		write(t, c, f)
		reply := make([]byte, 64)
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatal(err)
		}
		if binary.BigEndian.Uint32(reply) != 64 || binary.BigEndian.Uint64(reply[4:]) != seq {
			t.Fatalf("reply %d header % x", seq, reply[:12])
		}
		if bytes.Contains(reply, plain[8:20]) || bytes.Equal(reply, f) {
			t.Fatalf("reply %d carries the plaintext or the request", seq)
		}
		if _, err := codec.Next(reply, seq); err != nil {
			t.Fatal(err)
		}
	}
}
