package apps

import (
	"errors"
	"sync/atomic"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// cryptoApp is the framed app with every frame sealed (the seed's CryptoSession; the wire
// format is in package proto's doc). A session's first proto.CryptoHelloSize bytes are the
// client's hello, answered with the server's; from then on each frame is authenticated and
// decrypted in place, the framed frame inside is checked (sequence, CRC-32C), and the frame is
// sealed back in place with the server-to-client key and counter. All the frames of one window
// go back in one Send, as in the framed app, so the two differ by the cipher work alone.
//
// A bad hello, a frame that fails authentication, a replayed or reordered counter and a
// malformed length kick the session with KickAuthFailed; an oversize frame with
// KickRecvBufferOverFull; a valid frame whose plaintext is not a framed frame with
// KickPacketError; a key at its limit (proto.CryptoLimits: before a nonce could repeat) with
// KickDisconnect. Each cause has its own counter (AppStats).
type cryptoApp struct {
	models.HandlerFuncs
	max int
	lim proto.CryptoLimits

	handshakes, frames                            atomic.Uint64
	authFailed, replayed, badHandshake, malformed atomic.Uint64
	oversize, badFrame, keyExhausted              atomic.Uint64
}

var (
	_ models.Handler = (*cryptoApp)(nil)
	_ Reporter       = (*cryptoApp)(nil)
)

func newCryptoApp(max int, lim proto.CryptoLimits) *cryptoApp {
	return &cryptoApp{max: max, lim: lim}
}

func (a *cryptoApp) OnRecv(s models.Session, w []byte) int {
	cs, _ := s.UserData().(*proto.CryptoSession)
	off := 0
	if cs == nil {
		if len(w) < proto.CryptoHelloSize {
			return 0
		}
		hello, sess, err := proto.CryptoRespond(w[:proto.CryptoHelloSize], a.lim)
		if err != nil {
			a.badHandshake.Add(1)
			s.Kick(models.KickAuthFailed)
			return len(w)
		}
		a.handshakes.Add(1)
		s.SetUserData(sess)
		s.Send(hello)
		cs, off = sess, proto.CryptoHelloSize
	}
	start, frames := off, uint64(0)
	for {
		n, err := proto.ParseCryptoFrame(w[off:], a.max)
		if err == nil && n == 0 {
			break
		}
		if err == nil {
			err = a.serve(cs, w[off:off+n])
		}
		if err != nil {
			s.Kick(a.count(err))
			return len(w)
		}
		off += n
		frames++
	}
	if off > start {
		a.frames.Add(frames) // once a window, not once a frame: no shared cache line per frame
		s.Send(w[start:off])
	}
	return off
}

// serve opens one whole frame in place, checks the framed frame inside and seals the reply
// in its place.
func (a *cryptoApp) serve(cs *proto.CryptoSession, frame []byte) error {
	plain, err := cs.OpenFrame(frame)
	if err != nil {
		return err
	}
	if _, m, err := proto.ParseFramed(plain, len(plain)); err != nil || m != len(plain) {
		return errBadFrame
	}
	return cs.SealFrame(frame)
}

var errBadFrame = errors.New("crypto: plaintext is not one framed frame")

// count counts err's cause and returns the kick reason for it.
func (a *cryptoApp) count(err error) models.KickReason {
	switch {
	case errors.Is(err, proto.ErrTooLarge):
		a.oversize.Add(1)
		return models.KickRecvBufferOverFull
	case errors.Is(err, proto.ErrKeyExhausted):
		a.keyExhausted.Add(1)
		return models.KickDisconnect
	case errors.Is(err, errBadFrame):
		a.badFrame.Add(1)
		return models.KickPacketError
	case errors.Is(err, proto.ErrReplay):
		a.replayed.Add(1)
	case errors.Is(err, proto.ErrAuth):
		a.authFailed.Add(1)
	default: // a length below the overhead: nothing that could be authenticated
		a.malformed.Add(1)
	}
	return models.KickAuthFailed
}

// AppStats: handshakes and frames served, and the sessions ended by each cause.
func (a *cryptoApp) AppStats() map[string]uint64 {
	return map[string]uint64{
		"crypto_handshakes":    a.handshakes.Load(),
		"crypto_frames":        a.frames.Load(),
		"crypto_auth_failed":   a.authFailed.Load(),
		"crypto_replayed":      a.replayed.Load(),
		"crypto_bad_handshake": a.badHandshake.Load(),
		"crypto_malformed":     a.malformed.Load(),
		"crypto_oversize":      a.oversize.Load(),
		"crypto_bad_frame":     a.badFrame.Load(),
		"crypto_key_exhausted": a.keyExhausted.Load(),
	}
}
