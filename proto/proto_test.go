package proto

import (
	"errors"
	"testing"
)

func TestClientRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name Name
		size int
	}{
		{Echo, 1}, {Echo, 11}, {Echo, 12}, {Echo, 64}, {Echo, 4096},
		{Framed, FramedHeaderSize}, {Framed, 64}, {Framed, 65536},
		{Sockperf, SockperfHeaderSize}, {Sockperf, 64}, {Sockperf, 1400},
	} {
		t.Run(string(tc.name)+"/size="+itoa(tc.size), func(t *testing.T) {
			c, err := NewClient(tc.name, tc.size, 7)
			if err != nil {
				t.Fatal(err)
			}
			var buf []byte
			for seq := uint64(0); seq < 3; seq++ {
				buf = c.Append(buf, seq)
			}
			if len(buf) != 3*tc.size {
				t.Fatalf("encoded %d bytes, want %d", len(buf), 3*tc.size)
			}
			if tc.name == Sockperf { // the server's reply clears the client flag
				for off := 0; off < len(buf); off += tc.size {
					ClearClientFlag(buf[off:])
				}
			}
			if r, err := c.Next(buf[:tc.size-1], 0); err != nil || r.N != 0 {
				t.Fatalf("partial message: %+v, %v; want need-more", r, err)
			}
			for seq := uint64(0); seq < 3; seq++ {
				r, err := c.Next(buf, seq)
				if err != nil {
					t.Fatalf("seq %d: %v", seq, err)
				}
				if r.N != tc.size || r.Seq != seq {
					t.Fatalf("got %+v, want N=%d Seq=%d", r, tc.size, seq)
				}
				buf = buf[r.N:]
			}
		})
	}
}

func TestClientDetectsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name Name
		size int
		flip int // byte to corrupt
	}{
		{Echo, 1, 0}, {Echo, 8, 5}, {Echo, 64, 40}, {Echo, 64, 2},
		{Framed, 64, 50}, {Framed, 64, 14},
		{Sockperf, 64, 30},
	} {
		t.Run(string(tc.name)+"/byte="+itoa(tc.flip), func(t *testing.T) {
			c, _ := NewClient(tc.name, tc.size, 3)
			m := c.Append(nil, 9)
			if tc.name == Sockperf {
				ClearClientFlag(m)
			}
			m[tc.flip] ^= 0x40
			if _, err := c.Next(m, 9); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupted byte %d: err %v, want ErrCorrupt", tc.flip, err)
			}
		})
	}
	t.Run("echo/wrong-seq", func(t *testing.T) {
		c, _ := NewClient(Echo, 4, 3)
		if _, err := c.Next(c.Append(nil, 1), 2); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("short echo with another seq: %v, want ErrCorrupt", err)
		}
	})
	t.Run("sockperf/client-flag-kept", func(t *testing.T) {
		c, _ := NewClient(Sockperf, 64, 0)
		if _, err := c.Next(c.Append(nil, 1), 1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("reply with the client flag still set: %v, want ErrCorrupt", err)
		}
	})
}

func TestNewClientRejects(t *testing.T) {
	for _, tc := range []struct {
		name Name
		size int
	}{
		{"udp", 64}, {Echo, 0}, {Framed, FramedHeaderSize - 1}, {Sockperf, 13}, {Echo, MaxMessageSize + 1},
	} {
		t.Run(string(tc.name)+"/"+itoa(tc.size), func(t *testing.T) {
			if _, err := NewClient(tc.name, tc.size, 0); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewBroadcastClient(10, 0); err == nil {
		t.Fatal("broadcast client accepted a size below the header")
	}
}

func TestParseFramedRejects(t *testing.T) {
	good := AppendFramed(nil, TypeEcho, 1, 2, 40)
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		buf  []byte
		max  int
		want error
	}{
		{"short length", mut(func(b []byte) { b[3] = 10 }), 1 << 20, ErrProtocol},
		{"over limit", good, 39, ErrTooLarge},
		{"garbage length", []byte{0xff, 0xff, 0xff, 0xff}, 1 << 20, ErrTooLarge},
		{"type zero", mut(func(b []byte) { b[5] = 0 }), 1 << 20, ErrProtocol},
		{"unknown type", mut(func(b []byte) { b[5] = 9 }), 1 << 20, ErrProtocol},
		{"flags", mut(func(b []byte) { b[7] = 1 }), 1 << 20, ErrProtocol},
		{"checksum", mut(func(b []byte) { b[30]++ }), 1 << 20, ErrProtocol},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), 1 << 20, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseFramed(tc.buf, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if h, n, err := ParseFramed(good, 1<<20); err != nil || n != 40 || h.Src != 1 || h.Seq != 2 {
		t.Fatalf("good frame: %+v %d %v", h, n, err)
	}
}

func TestParseSockperfRejects(t *testing.T) {
	m := AppendSockperf(nil, 5, SockperfClient|SockperfPongRequest, 20)
	if seq, flags, n, err := ParseSockperf(m, 64); err != nil || seq != 5 || n != 20 || flags != 3 {
		t.Fatalf("good: %d %d %d %v", seq, flags, n, err)
	}
	if _, _, _, err := ParseSockperf(m, 19); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	m[13] = 3
	if _, _, _, err := ParseSockperf(m, 64); !errors.Is(err, ErrProtocol) {
		t.Fatalf("length below header: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, n := range Names {
		if got, err := Parse(string(n)); err != nil || got != n {
			t.Fatalf("Parse(%q) = %q, %v", n, got, err)
		}
	}
	if _, err := Parse("http"); err == nil {
		t.Fatal("Parse accepted http")
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
