package apps

import (
	"errors"
	"strconv"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// loggingApp is the framed app that also appends one line per message to a log (the seed's
// FILE_WRITE io type), so a run measures what an asynchronous log costs the network path:
//
//	t=<unix ns> sess=<session ID> src=<source> seq=<sequence> len=<frame bytes>\n
//
// t is taken once per receive window (every frame of a window arrived together). The line
// goes to a models.LogFile, which never blocks: when the disk falls behind, lines are dropped
// and counted there, and the echo goes on. The echo itself is the framed app's: every complete
// verified frame of the window back in one Send.
type loggingApp struct {
	max int
	log models.LogFile
}

var (
	_ models.Handler = (*loggingApp)(nil)
	_ Reporter       = (*loggingApp)(nil)
)

// logConn is a session's line buffer (OnRecv calls of a session are serialized).
type logConn struct{ line []byte }

func newLoggingApp(max int, log models.LogFile) (*loggingApp, error) {
	if log == nil {
		return nil, errors.New("app logging needs a log file (apps.Options.Log, from models.OpenLog)")
	}
	return &loggingApp{max: max, log: log}, nil
}

func (a *loggingApp) OnConnect(s models.Session) {
	s.SetUserData(&logConn{line: make([]byte, 0, 96)})
}

func (a *loggingApp) OnRecv(s models.Session, w []byte) int {
	lc, _ := s.UserData().(*logConn)
	if lc == nil {
		lc = &logConn{}
		s.SetUserData(lc)
	}
	var now int64
	off := 0
	for {
		h, n, err := proto.ParseFramed(w[off:], a.max)
		if err != nil {
			s.Kick(kickFor(err))
			return len(w)
		}
		if n == 0 {
			break
		}
		if off == 0 {
			now = time.Now().UnixNano()
		}
		lc.line = appendLogLine(lc.line[:0], now, s.ID(), h)
		a.log.Append(lc.line) // a dropped line is counted by the log
		off += n
	}
	if off > 0 {
		s.Send(w[:off])
	}
	return off
}

func appendLogLine(b []byte, now int64, sess uint64, h proto.FramedHeader) []byte {
	b = append(b, "t="...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, " sess="...)
	b = strconv.AppendUint(b, sess, 10)
	b = append(b, " src="...)
	b = strconv.AppendUint(b, uint64(h.Src), 10)
	b = append(b, " seq="...)
	b = strconv.AppendUint(b, h.Seq, 10)
	b = append(b, " len="...)
	b = strconv.AppendUint(b, uint64(h.Len), 10)
	return append(b, '\n')
}

func (a *loggingApp) OnSend(models.Session, int) {}

func (a *loggingApp) OnDisconnect(models.Session, models.KickReason) {}

// AppStats are the log's counters (models.LogStats).
func (a *loggingApp) AppStats() map[string]uint64 {
	st := a.log.Stats()
	return map[string]uint64{
		"log_appended": st.Appended, "log_written": st.Written, "log_dropped": st.Dropped,
		"log_bytes": st.Bytes, "log_write_calls": st.WriteCalls, "log_write_errors": st.WriteErrors,
	}
}
