package models_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

func TestConfigWithDefaults(t *testing.T) {
	defaults := models.Config{Loops: runtime.GOMAXPROCS(0), PoolSize: models.DefaultPoolSize,
		RecvBufferSize: models.DefaultRecvBufferSize, SendQueueLimit: models.DefaultSendQueueLimit,
		MaxGather: models.DefaultMaxGather}
	for _, tc := range []struct {
		name    string
		in      models.Config
		want    models.Config
		wantErr bool
	}{
		{"zero means defaults", models.Config{}, defaults, false},
		{"set fields kept", models.Config{Loops: 2, PoolSize: 8, RecvBufferSize: 4096, SendQueueLimit: 1 << 20, MaxGather: 4},
			models.Config{Loops: 2, PoolSize: 8, RecvBufferSize: 4096, SendQueueLimit: 1 << 20, MaxGather: 4}, false},
		{"negative loops", models.Config{Loops: -1}, models.Config{}, true},
		{"negative pool", models.Config{PoolSize: -1}, models.Config{}, true},
		{"negative recv buffer", models.Config{RecvBufferSize: -1}, models.Config{}, true},
		{"negative send queue limit", models.Config{SendQueueLimit: -1}, models.Config{}, true},
		{"negative max gather", models.Config{MaxGather: -1}, models.Config{}, true},
		{"recv buffer too small", models.Config{RecvBufferSize: 63}, models.Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.WithDefaults()
			if tc.wantErr {
				if !errors.Is(err, models.ErrBadConfig) {
					t.Errorf("WithDefaults(%+v) error = %v, want ErrBadConfig", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("WithDefaults(%+v) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestServiceOptions(t *testing.T) {
	cfg := models.Config{PoolSize: 16}
	for _, tc := range []struct {
		name    string
		server  bool
		in      models.ServiceOptions
		want    models.ServiceOptions
		wantErr bool
	}{
		{"server defaults", true, models.ServiceOptions{}, models.ServiceOptions{Type: models.ServiceServer, PoolSize: 16}, false},
		{"server pool override", true, models.ServiceOptions{PoolSize: 3}, models.ServiceOptions{Type: models.ServiceServer, PoolSize: 3}, false},
		{"server negative pool", true, models.ServiceOptions{PoolSize: -1}, models.ServiceOptions{}, true},
		{"server with client type", true, models.ServiceOptions{Type: models.ServiceClient}, models.ServiceOptions{}, true},
		{"client defaults", false, models.ServiceOptions{},
			models.ServiceOptions{Type: models.ServiceClient, Conns: 1, PoolSize: 16, ReconnectDelay: models.DefaultReconnectDelay}, false},
		{"client pool grows to conns", false, models.ServiceOptions{Conns: 100},
			models.ServiceOptions{Type: models.ServiceClient, Conns: 100, PoolSize: 100, ReconnectDelay: models.DefaultReconnectDelay}, false},
		{"auto reconnect keeps its delay", false, models.ServiceOptions{Type: models.ServiceClientAutoReconnect, ReconnectDelay: time.Second},
			models.ServiceOptions{Type: models.ServiceClientAutoReconnect, Conns: 1, PoolSize: 16, ReconnectDelay: time.Second}, false},
		{"client negative conns", false, models.ServiceOptions{Conns: -1}, models.ServiceOptions{}, true},
		{"client negative delay", false, models.ServiceOptions{ReconnectDelay: -1}, models.ServiceOptions{}, true},
		{"client pool below conns", false, models.ServiceOptions{Conns: 4, PoolSize: 2}, models.ServiceOptions{}, true},
		{"client with server type", false, models.ServiceOptions{Type: models.ServiceServer}, models.ServiceOptions{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got models.ServiceOptions
			var err error
			if tc.server {
				got, err = tc.in.ForServer(cfg)
			} else {
				got, err = tc.in.ForClient(cfg)
			}
			if tc.wantErr {
				if !errors.Is(err, models.ErrBadConfig) {
					t.Errorf("%+v: error %v, want ErrBadConfig", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("%+v = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{models.KickNone.String(), "none"},
		{models.KickRecv0.String(), "recv_0"},
		{models.KickRecvBufferOverFull.String(), "recv_buffer_over_full"},
		{models.KickConnectFailed.String(), "connect_failed"},
		{models.KickAuthFailed.String(), "auth_failed"},
		{models.KickIdleTimeout.String(), "idle_timeout"},
		{(models.NumKickReasons + 3).String(), "kick(18)"},
		{models.ServiceServer.String(), "server"},
		{models.ServiceClientAutoReconnect.String(), "client_auto_reconnect"},
		{models.ServiceType(9).String(), "service(9)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("String() = %q, want %q", tc.got, tc.want)
			}
		})
	}
	seen := map[string]bool{}
	for r := range models.NumKickReasons {
		if s := r.String(); s == "" || seen[s] {
			t.Errorf("kick reason %d has empty or duplicate name %q", r, s)
		} else {
			seen[s] = true
		}
	}
}

func TestHandlerFuncs(t *testing.T) {
	var h models.Handler = models.HandlerFuncs{}
	h.OnConnect(nil) // nil fields do nothing
	h.OnSend(nil, 1)
	h.OnDisconnect(nil, models.KickDisconnect)
	if n := h.OnRecv(nil, make([]byte, 7)); n != 7 {
		t.Errorf("nil Recv consumed %d, want all 7", n)
	}
	var got []string
	h = models.HandlerFuncs{
		Connect:    func(models.Session) { got = append(got, "connect") },
		Recv:       func(_ models.Session, w []byte) int { got = append(got, "recv"); return 2 },
		Sent:       func(_ models.Session, n int) { got = append(got, "sent") },
		Disconnect: func(_ models.Session, r models.KickReason) { got = append(got, r.String()) },
	}
	h.OnConnect(nil)
	if n := h.OnRecv(nil, make([]byte, 7)); n != 2 {
		t.Errorf("Recv consumed %d, want 2", n)
	}
	h.OnSend(nil, 3)
	h.OnDisconnect(nil, models.KickRecv0)
	if want := []string{"connect", "recv", "sent", "recv_0"}; len(got) != 4 || got[0] != want[0] || got[3] != want[3] {
		t.Errorf("calls %v, want %v", got, want)
	}
}
