package harness

import (
	"net"
	"testing"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// fakeSession is a session that only records what is sent on it.
type fakeSession struct {
	id   uint64
	sent [][]byte
	ud   any
}

func (f *fakeSession) ID() uint64           { return f.id }
func (f *fakeSession) LocalAddr() net.Addr  { return nil }
func (f *fakeSession) RemoteAddr() net.Addr { return nil }
func (f *fakeSession) Send(p []byte) error {
	f.sent = append(f.sent, append([]byte(nil), p...))
	return nil
}
func (f *fakeSession) Kick(models.KickReason)      {}
func (f *fakeSession) UserData() any               { return f.ud }
func (f *fakeSession) SetUserData(v any)           { f.ud = v }
func (f *fakeSession) echo(h steadyHandler, i int) { h.OnRecv(f, f.sent[i]) }

// TestSteadyLoadKillSpan: one connection through a kill. Its first session is ended by the
// kill; a second one, accepted by the dying server after the signal and reset before the
// process is reaped, is ended by the kill too (its messages in flight, not lost); the third,
// on the new server, answers. Without the kill span the second session's messages are lost.
func TestSteadyLoadKillSpan(t *testing.T) {
	for _, tc := range []struct {
		name         string
		span         bool
		inFlight     uint64
		lost, back   uint64
		sessionsDown uint64
	}{
		{"span", true, 5, 0, 1, 2},
		{"no span", false, 0, 5, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newSteadyLoad(steadyConfig{Proto: proto.Echo, Conns: 1, Size: 64}, 1)
			if err != nil {
				t.Fatal(err)
			}
			h := steadyHandler{l}
			c := l.conns[0]
			s1, s2, s3 := &fakeSession{id: 1}, &fakeSession{id: 2}, &fakeSession{id: 3}
			h.OnConnect(s1)
			for range 4 {
				c.send(l, nowNs())
			}
			s1.echo(h, 0) // the first is answered, three are in flight at the kill
			if tc.span {
				l.BeginKill()
			}
			h.OnDisconnect(s1, models.KickRecvError)
			h.OnConnect(s2) // the dying server's kernel completed the handshake
			c.send(l, nowNs())
			c.send(l, nowNs())
			h.OnDisconnect(s2, models.KickRecvError)
			if tc.span {
				l.Reaped()
			} else {
				l.MarkKill() // one instant only, after the second session ended
			}
			h.OnConnect(s3)
			c.send(l, nowNs())
			s3.echo(h, 0)
			res := l.collect()
			u := res.Unanswered
			if tc.span && (u.InFlight != 3+2 || u.Lost != 0) || !tc.span && (u.Lost != 3+2 || u.InFlight != 0) {
				t.Errorf("unanswered %+v, want in flight %d, lost %d", u, tc.inFlight, tc.lost)
			}
			if res.Verify.Received != 2 || res.Verify.Sent != 7 || res.LiveAtEnd != 1 || res.Downs != tc.sessionsDown {
				t.Errorf("verify %+v, live %d, downs %d", res.Verify, res.LiveAtEnd, res.Downs)
			}
		})
	}
}
