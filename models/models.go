package models

import (
	"net"
	"time"
)

// Engine is one I/O model instance: its loops, completion ports or rings.
type Engine interface {
	// Name is the backend name, equal to its folder name.
	Name() string
	// Listen starts a SERVER service on addr ("127.0.0.1:0" allowed).
	Listen(addr string, h Handler, opt ServiceOptions) (Service, error)
	// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service of opt.Conns sessions to addr.
	// It returns once every first connect attempt has finished (connected or failed).
	Connect(addr string, h Handler, opt ServiceOptions) (Service, error)
	// Post runs job on the engine's job loop (see the package doc for ordering).
	Post(job func()) error
	// Close closes every service, kicks every session with KickShutdown, waits for every
	// OnDisconnect and for every loop to exit, and releases all kernel resources. It returns
	// promptly even with I/O in flight and may be called more than once.
	Close() error
}

// Service is the seed's ServiceCoordinator: one listener or one group of client sessions
// with its own SessionPool.
type Service interface {
	Type() ServiceType
	// Addr is the bound listen address (SERVER) or the target address (CLIENT).
	Addr() net.Addr
	// Stats is a snapshot of the service's counters.
	Stats() ServiceStats
	// Close stops accepting/reconnecting, kicks the service's sessions with KickShutdown and
	// waits for their OnDisconnect.
	Close() error
}

// Session is one pooled connection.
type Session interface {
	// ID is unique per connection for the engine's lifetime (a pooled session gets a new ID
	// each time it is reused).
	ID() uint64
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
	// Send copies p into the session's bounded send queue and returns at once; it never
	// blocks. Everything queued while a write is in flight goes out as one gather write.
	// It returns ErrSendQueueFull (and kicks the session) when the queue's bound would be
	// exceeded, and ErrClosed after the session ended.
	Send(p []byte) error
	// Kick closes the session; the first reason recorded is given to OnDisconnect.
	Kick(reason KickReason)
	// UserData is the app's per-session value, reset to nil when the session is reused.
	UserData() any
	SetUserData(v any)
}

// Handler is the app's side of a session (the seed's OnConnect/OnRecv/OnSend/OnDisconnect).
// See the package doc for the concurrency guarantees.
type Handler interface {
	OnConnect(s Session)
	// OnRecv gets the unread window and returns how many bytes it consumed.
	OnRecv(s Session, window []byte) int
	OnSend(s Session, n int)
	OnDisconnect(s Session, reason KickReason)
}

// HandlerFuncs adapts functions to Handler; nil fields do nothing and OnRecv nil consumes all.
type HandlerFuncs struct {
	Connect    func(s Session)
	Recv       func(s Session, window []byte) int
	Sent       func(s Session, n int)
	Disconnect func(s Session, reason KickReason)
}

var _ Handler = HandlerFuncs{}

func (f HandlerFuncs) OnConnect(s Session) {
	if f.Connect != nil {
		f.Connect(s)
	}
}

func (f HandlerFuncs) OnRecv(s Session, w []byte) int {
	if f.Recv != nil {
		return f.Recv(s, w)
	}
	return len(w)
}

func (f HandlerFuncs) OnSend(s Session, n int) {
	if f.Sent != nil {
		f.Sent(s, n)
	}
}

func (f HandlerFuncs) OnDisconnect(s Session, r KickReason) {
	if f.Disconnect != nil {
		f.Disconnect(s, r)
	}
}

// Defaults used where Config or ServiceOptions leave a field zero.
const (
	DefaultPoolSize       = 4096
	DefaultRecvBufferSize = 64 << 10
	DefaultSendQueueLimit = 4 << 20
	DefaultMaxGather      = 64
	DefaultReconnectDelay = 50 * time.Millisecond
)

// Config configures an Engine. The same Config is given to every backend of a comparison
// (tuning parity): Loops is the one knob for event loops / completion threads.
type Config struct {
	// Loops is the number of event loops, completion-port threads or rings. 0 means
	// runtime.GOMAXPROCS(0).
	Loops int
	// PoolSize is the default SessionPool capacity of each service.
	PoolSize int
	// RecvBufferSize is each session's RecvBuffer size in bytes: the largest frame an app can
	// see whole. A larger frame kicks with KickRecvBufferOverFull.
	RecvBufferSize int
	// SendQueueLimit bounds the bytes queued (not yet written) per session.
	SendQueueLimit int
	// MaxGather bounds the buffers in one gather write (iovecs / WSABUFs).
	MaxGather int
}

// WithDefaults validates c and fills zero fields with the defaults.
func (c Config) WithDefaults() (Config, error) {
	if c.Loops < 0 || c.PoolSize < 0 || c.RecvBufferSize < 0 || c.SendQueueLimit < 0 || c.MaxGather < 0 {
		return c, badConfig("negative field in %+v", c)
	}
	if c.Loops == 0 {
		c.Loops = gomaxprocs()
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.RecvBufferSize == 0 {
		c.RecvBufferSize = DefaultRecvBufferSize
	}
	if c.SendQueueLimit == 0 {
		c.SendQueueLimit = DefaultSendQueueLimit
	}
	if c.MaxGather == 0 {
		c.MaxGather = DefaultMaxGather
	}
	if c.RecvBufferSize < 64 {
		return c, badConfig("RecvBufferSize %d < 64", c.RecvBufferSize)
	}
	return c, nil
}

// ServiceOptions configures one Listen or Connect.
type ServiceOptions struct {
	// Type is ServiceServer for Listen (zero means that), ServiceClient (zero means that for
	// Connect) or ServiceClientAutoReconnect.
	Type ServiceType
	// PoolSize overrides Config.PoolSize for this service's SessionPool.
	PoolSize int
	// Conns is the number of client sessions Connect opens (0 means 1).
	Conns int
	// ReconnectDelay is the wait before an auto-reconnect attempt (0 means the default).
	ReconnectDelay time.Duration
	// IdleTimeout kicks a session with KickIdleTimeout when its OnRecv has consumed nothing
	// (no complete frame) for this long, counted from OnConnect (a handshake timeout) and
	// from every OnRecv that consumed bytes. 0 turns it off (the default: benchmarks pay
	// nothing). A kick comes between 1x and 1.25x IdleTimeout after the last progress. See
	// Guard and the package doc.
	IdleTimeout time.Duration
}

// ForServer validates and completes opt for Listen.
func (o ServiceOptions) ForServer(c Config) (ServiceOptions, error) {
	if o.Type == 0 {
		o.Type = ServiceServer
	}
	if o.Type != ServiceServer {
		return o, badConfig("Listen with service type %v", o.Type)
	}
	if o.PoolSize < 0 || o.IdleTimeout < 0 {
		return o, badConfig("negative field in %+v", o)
	}
	if o.PoolSize == 0 {
		o.PoolSize = c.PoolSize
	}
	return o, nil
}

// ForClient validates and completes opt for Connect.
func (o ServiceOptions) ForClient(c Config) (ServiceOptions, error) {
	if o.Type == 0 {
		o.Type = ServiceClient
	}
	if o.Type != ServiceClient && o.Type != ServiceClientAutoReconnect {
		return o, badConfig("Connect with service type %v", o.Type)
	}
	if o.Conns < 0 || o.PoolSize < 0 || o.ReconnectDelay < 0 || o.IdleTimeout < 0 {
		return o, badConfig("negative field in %+v", o)
	}
	if o.Conns == 0 {
		o.Conns = 1
	}
	if o.PoolSize == 0 {
		o.PoolSize = max(c.PoolSize, o.Conns)
	}
	if o.PoolSize < o.Conns {
		return o, badConfig("PoolSize %d < Conns %d", o.PoolSize, o.Conns)
	}
	if o.ReconnectDelay == 0 {
		o.ReconnectDelay = DefaultReconnectDelay
	}
	return o, nil
}
