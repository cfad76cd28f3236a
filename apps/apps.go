// Package apps holds the server apps iobench runs on every backend (echo, framed, sockperf,
// the broadcast room, and the seed's two extra workloads: crypto and logging). They are written once against models, so every backend runs identical
// app code (copy parity): the only thing that differs between two runs is the I/O model
// underneath. `iobench serve` and the conformance suite (models/modeltest) both use them.
package apps

import (
	"errors"
	"fmt"
	"sync"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// Names lists the apps `iobench serve --proto` accepts: the three protocols, the broadcast
// room (framed wire, fanned out to a room of sessions), framed sealed per frame (crypto) and
// framed with a log line per message (logging).
var Names = []string{"echo", "framed", "sockperf", "broadcast", "crypto", "logging"}

// Options configures an app.
type Options struct {
	// MaxFrame is the largest frame accepted (framed, sockperf, broadcast); larger declared
	// lengths kick the session with KickRecvBufferOverFull. 0 means the RecvBuffer size.
	MaxFrame int
	// RoomSize is the number of sessions per broadcast room (default 8).
	RoomSize int
	// Log is where the logging app appends its lines (required by it): models.OpenLog gives
	// the engine's own completion mechanism where it has one. The caller closes it after the
	// service.
	Log models.LogFile
}

// New returns the handler of the named app.
func New(name string, opt Options) (models.Handler, error) {
	if opt.MaxFrame < 0 || opt.RoomSize < 0 {
		return nil, fmt.Errorf("negative app option %+v", opt)
	}
	if opt.MaxFrame == 0 {
		opt.MaxFrame = models.DefaultRecvBufferSize
	}
	if opt.RoomSize == 0 {
		opt.RoomSize = 8
	}
	switch name {
	case "echo":
		return models.HandlerFuncs{Recv: echoRecv}, nil
	case "framed":
		return &framedApp{max: opt.MaxFrame}, nil
	case "sockperf":
		return &sockperfApp{max: opt.MaxFrame}, nil
	case "broadcast":
		return newBroadcastApp(opt.MaxFrame, opt.RoomSize), nil
	case "crypto":
		return newCryptoApp(opt.MaxFrame, proto.CryptoLimits{}), nil
	case "logging":
		return newLoggingApp(opt.MaxFrame, opt.Log)
	}
	return nil, fmt.Errorf("unknown app %q (want echo, framed, sockperf, broadcast, crypto or logging)", name)
}

// echoRecv is RFC 862: everything back.
func echoRecv(s models.Session, w []byte) int {
	s.Send(w)
	return len(w)
}

// kickFor maps a decoder error to the contract's kick reason.
func kickFor(err error) models.KickReason {
	if errors.Is(err, proto.ErrTooLarge) {
		return models.KickRecvBufferOverFull
	}
	return models.KickPacketError
}

// framedApp echoes each complete, verified frame; all complete frames of one window go back in
// one Send.
type framedApp struct {
	models.HandlerFuncs
	max int
}

func (a *framedApp) OnRecv(s models.Session, w []byte) int {
	off := 0
	for {
		_, n, err := proto.ParseFramed(w[off:], a.max)
		if err != nil {
			s.Kick(kickFor(err))
			return len(w)
		}
		if n == 0 {
			break
		}
		off += n
	}
	if off > 0 {
		s.Send(w[:off])
	}
	return off
}

// sockperfApp answers messages that ask for a pong, with the client flag cleared, in place.
type sockperfApp struct {
	models.HandlerFuncs
	max int
}

func (a *sockperfApp) OnRecv(s models.Session, w []byte) int {
	off, run := 0, 0 // run: start of the current span of replies
	for {
		_, flags, n, err := proto.ParseSockperf(w[off:], a.max)
		if err != nil {
			s.Kick(kickFor(err))
			return len(w)
		}
		if n == 0 {
			break
		}
		if flags&proto.SockperfPongRequest != 0 {
			proto.ClearClientFlag(w[off:])
		} else {
			if off > run {
				s.Send(w[run:off])
			}
			run = off + n
		}
		off += n
	}
	if off > run {
		s.Send(w[run:off])
	}
	return off
}

// broadcastApp puts sessions into rooms of RoomSize in connect order and fans every frame out
// to the whole room, sender included, as a game server relays a player's move to the room.
type broadcastApp struct {
	max      int
	roomSize int

	mu   sync.Mutex
	open *room // the room filling up
}

type room struct {
	mu      sync.RWMutex
	members []models.Session
}

func newBroadcastApp(max, roomSize int) *broadcastApp {
	return &broadcastApp{max: max, roomSize: roomSize}
}

func (a *broadcastApp) OnConnect(s models.Session) {
	a.mu.Lock()
	if a.open == nil || len(a.open.members) >= a.roomSize {
		a.open = &room{}
	}
	r := a.open
	r.mu.Lock()
	r.members = append(r.members, s)
	r.mu.Unlock()
	a.mu.Unlock()
	s.SetUserData(r)
}

func (a *broadcastApp) OnRecv(s models.Session, w []byte) int {
	off := 0
	for {
		_, n, err := proto.ParseFramed(w[off:], a.max)
		if err != nil {
			s.Kick(kickFor(err))
			return len(w)
		}
		if n == 0 {
			break
		}
		off += n
	}
	if off == 0 {
		return 0
	}
	r, _ := s.UserData().(*room)
	if r == nil {
		return off
	}
	r.mu.RLock()
	for _, m := range r.members {
		m.Send(w[:off]) // a full member queue kicks that member only
	}
	r.mu.RUnlock()
	return off
}

func (a *broadcastApp) OnSend(models.Session, int) {}

func (a *broadcastApp) OnDisconnect(s models.Session, _ models.KickReason) {
	r, _ := s.UserData().(*room)
	if r == nil {
		return
	}
	r.mu.Lock()
	for i, m := range r.members {
		if m == s {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
}
