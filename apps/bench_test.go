package apps_test

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// The app benchmarks measure an app's own CPU per frame in process: OnRecv on a fake session
// whose Send only counts, one frame a window (depth 1), no sockets. So the difference between
// /app=framed and /app=crypto is exactly the cipher work a backend's loop adds per frame, and
// between /app=framed and /app=logging the log's (the line, the copy into the batch, and the
// writer goroutine's write(2) calls: cpu-ns/frame counts every thread of the process, ns/op
// only the serving goroutine's wall time).

// benchSession is a models.Session that serves OnRecv in process.
type benchSession struct {
	ud     any
	sent   int
	last   []byte
	kicked models.KickReason
}

var _ models.Session = (*benchSession)(nil)

func (s *benchSession) ID() uint64           { return 1 }
func (s *benchSession) LocalAddr() net.Addr  { return nil }
func (s *benchSession) RemoteAddr() net.Addr { return nil }
func (s *benchSession) Send(p []byte) error  { s.sent += len(p); s.last = p; return nil }
func (s *benchSession) Kick(r models.KickReason) {
	if s.kicked == models.KickNone {
		s.kicked = r
	}
}
func (s *benchSession) UserData() any     { return s.ud }
func (s *benchSession) SetUserData(v any) { s.ud = v }

// BenchmarkCrypto: server CPU per frame of the framed app and of the crypto app (open, check,
// seal in place), by frame size on the wire. The crypto client's sealing is done with the
// timer stopped, in chunks of frames.
func BenchmarkCrypto(b *testing.B) {
	for _, app := range []string{"framed", "crypto"} {
		for _, size := range []int{64, 1024, 16 << 10} {
			b.Run("app="+app+"/size="+strconv.Itoa(size), func(b *testing.B) { benchApp(b, app, size) })
		}
	}
}

func benchApp(b *testing.B, app string, size int) {
	h, err := apps.New(app, apps.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := &benchSession{}
	var codec proto.Client
	if app == "crypto" {
		cc, err := proto.NewCryptoClient(size, 1)
		if err != nil {
			b.Fatal(err)
		}
		if n := h.OnRecv(s, cc.Hello()); n != proto.CryptoHelloSize {
			b.Fatalf("handshake consumed %d bytes (kick %v)", n, s.kicked)
		}
		if err := cc.Accept(s.last); err != nil {
			b.Fatal(err)
		}
		codec = cc
	} else if codec, err = proto.NewClient(proto.Framed, size, 1); err != nil {
		b.Fatal(err)
	}
	chunk := max(64, (1<<20)/size)
	buf := make([]byte, 0, chunk*size)
	var seq uint64
	var cpu int64
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(chunk, b.N-done)
		b.StopTimer()
		buf = buf[:0]
		for range k {
			buf = codec.Append(buf, seq)
			seq++
		}
		c0 := cpuNs()
		b.StartTimer()
		for off := 0; off < len(buf); off += size {
			if n := h.OnRecv(s, buf[off:off+size]); n != size {
				b.Fatalf("frame %d: consumed %d of %d (kick %v)", done+off/size, n, size, s.kicked)
			}
		}
		b.StopTimer()
		cpu += cpuNs() - c0
		b.StartTimer()
		done += k
	}
	b.StopTimer()
	if cpuNs() >= 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/frame")
	}
}

// BenchmarkCryptoHandshake: the server's CPU per handshake (one X25519 key pair, one X25519
// shared secret, HKDF, two AES-GCM key schedules), paid once per connection.
func BenchmarkCryptoHandshake(b *testing.B) {
	hs, err := proto.NewCryptoHandshake(proto.CryptoLimits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := proto.CryptoRespond(hs.Hello(), proto.CryptoLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogging: CPU per frame of the framed app and of the logging app writing to a file
// (default LogOptions), 64-byte frames. The framed frames are not modified by either app, so
// one window of frames is served over and over; the log is closed (flushed) inside the
// measurement. Served flat out, faster than any load a run offers, the writer falls behind
// and the queue drops lines (dropped/frame): cpu-ns/frame then leaves out the writes of the
// dropped lines. lines/write is the group commit's batching.
func BenchmarkLogging(b *testing.B) {
	for _, app := range []string{"framed", "logging"} {
		b.Run("app="+app+"/size=64", func(b *testing.B) {
			var log models.LogFile
			opt := apps.Options{}
			if app == "logging" {
				l, err := models.OpenLogFile(filepath.Join(b.TempDir(), "bench.log"), models.LogOptions{})
				if err != nil {
					b.Fatal(err)
				}
				log, opt.Log = l, l
			}
			h, err := apps.New(app, opt)
			if err != nil {
				b.Fatal(err)
			}
			s := &benchSession{}
			h.OnConnect(s)
			frame := proto.AppendFramed(nil, proto.TypeEcho, 1, 7, 64)
			b.SetBytes(64)
			b.ReportAllocs()
			c0 := cpuNs()
			b.ResetTimer()
			for range b.N {
				if n := h.OnRecv(s, frame); n != 64 {
					b.Fatalf("consumed %d (kick %v)", n, s.kicked)
				}
			}
			if log != nil {
				st, err := log.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/frame")
				b.ReportMetric(float64(st.Written)/float64(max(st.WriteCalls, 1)), "lines/write")
			}
			b.StopTimer()
			if c1 := cpuNs(); c0 >= 0 && c1 >= 0 {
				b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/frame")
			}
		})
	}
}
