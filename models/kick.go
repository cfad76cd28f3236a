package models

import "fmt"

// KickReason says why a session ended. The first values follow the seed's
// IO_SESSION_KICK_REASON; the rest are what a measured, bounded engine also needs.
type KickReason uint8

const (
	KickNone               KickReason = iota // not kicked (zero value)
	KickUnknown                              // IO_SESSION_KICK_REASON_UNKNOW
	KickPacketError                          // protocol error: garbage on the wire, bad frame
	KickDisconnect                           // the app called Kick to disconnect
	KickSendError                            // a write/WSASend/sendmsg failed
	KickRecv0                                // peer closed gracefully (read returned 0 / EOF)
	KickRecvBufferOverFull                   // a frame larger than the RecvBuffer
	KickIOError                              // HANDLE_IOCP_ERROR: an unexpected completion error
	KickRecvError                            // a read failed (e.g. ECONNRESET after SO_LINGER 0)
	KickSendQueueFull                        // the bounded send queue overflowed (slow consumer)
	KickPoolExhausted                        // refused: the SessionPool had no free session
	KickShutdown                             // the service or engine is closing
	KickConnectFailed                        // a CLIENT connect attempt failed
	KickAuthFailed                           // a frame or handshake failed authentication (crypto)
	KickIdleTimeout                          // no complete frame for ServiceOptions.IdleTimeout
	NumKickReasons                           // number of reasons (array size)
)

var kickNames = [NumKickReasons]string{
	"none", "unknown", "packet_error", "disconnect", "send_error", "recv_0",
	"recv_buffer_over_full", "io_error", "recv_error", "send_queue_full",
	"pool_exhausted", "shutdown", "connect_failed", "auth_failed", "idle_timeout",
}

func (r KickReason) String() string {
	if r < NumKickReasons {
		return kickNames[r]
	}
	return fmt.Sprintf("kick(%d)", uint8(r))
}

// ServiceType is the seed's ServiceType (OFFLINE has no I/O and is not modelled).
type ServiceType uint8

const (
	ServiceServer              ServiceType = iota + 1 // listens and accepts
	ServiceClient                                     // connects once per session
	ServiceClientAutoReconnect                        // reconnects each session that ends
)

func (t ServiceType) String() string {
	switch t {
	case ServiceServer:
		return "server"
	case ServiceClient:
		return "client"
	case ServiceClientAutoReconnect:
		return "client_auto_reconnect"
	}
	return fmt.Sprintf("service(%d)", uint8(t))
}
