package modeltest

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// testBadUsage: bad addresses and negative options get one clear error; nothing is started.
func testBadUsage(t *testing.T, backend string) {
	t.Run("listen", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		eng := Open(t, backend, models.Config{})
		for _, tc := range []struct{ name, addr string }{
			{"port_out_of_range", "127.0.0.1:99999"},
			{"missing_port", "127.0.0.1"},
			{"port_in_use", busy.Addr().String()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				svc, err := eng.Listen(tc.addr, EchoHandler(), models.ServiceOptions{})
				if err == nil {
					svc.Close()
					t.Fatalf("Listen(%q) succeeded", tc.addr)
				}
				var op *models.OpError
				if !errors.As(err, &op) {
					t.Errorf("Listen(%q) = %v (%T), want an error wrapping *models.OpError", tc.addr, err, err)
				} else if op.Backend != backend || op.Op == "" {
					t.Errorf("Listen(%q) OpError Backend=%q Op=%q, want Backend %q and an Op", tc.addr, op.Backend, op.Op, backend)
				}
			})
		}
	})
	t.Run("config", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfg  models.Config
		}{
			{"negative_loops", models.Config{Loops: -1}},
			{"negative_pool_size", models.Config{PoolSize: -1}},
			{"negative_recv_buffer", models.Config{RecvBufferSize: -1}},
			{"negative_send_queue_limit", models.Config{SendQueueLimit: -1}},
			{"negative_max_gather", models.Config{MaxGather: -1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				eng, err := models.Open(backend, tc.cfg)
				if err == nil {
					eng.Close()
					t.Fatalf("Open with %+v succeeded", tc.cfg)
				}
				if !errors.Is(err, models.ErrBadConfig) {
					t.Errorf("Open with %+v = %v, want ErrBadConfig", tc.cfg, err)
				}
			})
		}
	})
	t.Run("service_options", func(t *testing.T) {
		ps := newPlainServer(t, nil)
		eng := Open(t, backend, models.Config{})
		k := Track(t, nil)
		for _, tc := range []struct {
			name   string
			listen bool
			opt    models.ServiceOptions
		}{
			{"listen_negative_pool_size", true, models.ServiceOptions{PoolSize: -1}},
			{"listen_client_type", true, models.ServiceOptions{Type: models.ServiceClient}},
			{"connect_negative_conns", false, models.ServiceOptions{Conns: -1}},
			{"connect_negative_pool_size", false, models.ServiceOptions{PoolSize: -1}},
			{"connect_negative_reconnect_delay", false, models.ServiceOptions{Type: models.ServiceClientAutoReconnect, ReconnectDelay: -time.Second}},
			{"connect_server_type", false, models.ServiceOptions{Type: models.ServiceServer}},
			{"connect_pool_smaller_than_conns", false, models.ServiceOptions{Conns: 4, PoolSize: 2}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var svc models.Service
				var err error
				if tc.listen {
					svc, err = eng.Listen("127.0.0.1:0", k, tc.opt)
				} else {
					svc, err = eng.Connect(ps.addr().String(), k, tc.opt)
				}
				if err == nil {
					svc.Close()
					t.Fatalf("%+v accepted", tc.opt)
				}
				if !errors.Is(err, models.ErrBadConfig) {
					t.Errorf("%+v: %v, want ErrBadConfig", tc.opt, err)
				}
			})
		}
		CloseEngine(t, eng)
		if n := k.Connects(); n != 0 {
			t.Errorf("%d sessions opened by rejected services", n)
		}
	})
}
