package modeltest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// Echo matrix sizing. Each case moves at most echoBudget bytes each way and at most
// echoMaxMsgs messages in all, so the matrix stays fast under -race; a (size, conns) pair
// whose single round (one message per connection) would pass the budget sends exactly one
// message per connection, and one whose single round would pass echoRoundBudget runs with
// fewer connections (echoRoundBudget/size: only 1 MiB x 1000 = 1 GiB, which runs as 1 MiB x
// 128), and its name says so.
const (
	echoBudget      = 16 << 20
	echoRoundBudget = 128 << 20
	echoMaxMsgs     = 200_000
	echoMaxPerConn  = 4096
	// echoWindow is the most bytes one client keeps unechoed: it keeps the server's send
	// queue (default 4 MiB) far from its bound even when the client's reader lags under -race.
	echoWindow = 512 << 10
	// headerLen is seq(4) conn(4) crc32c(4), embedded in every message of 12 B or more.
	headerLen = 12
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// payloadBlock is the deterministic filler messages are cut from (offset by conn and seq).
	payloadBlock = func() []byte {
		r := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 1<<20+4096)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}()
)

type echoShape struct {
	size, conns, msgs int
}

func (s echoShape) name() string {
	return fmt.Sprintf("echo/size=%s/conns=%d", sizeName(s.size), s.conns)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func echoShapes() []echoShape {
	var out []echoShape
	seen := map[echoShape]bool{}
	for _, size := range []int{1, 64, 4 << 10, 64 << 10, 1 << 20} {
		for _, conns := range []int{1, 100, 1000} {
			conns = max(1, min(conns, echoRoundBudget/size))
			msgs := min(echoBudget/(size*conns), echoMaxMsgs/conns, echoMaxPerConn)
			sh := echoShape{size, conns, max(1, msgs)}
			if !seen[sh] {
				seen[sh] = true
				out = append(out, sh)
			}
		}
	}
	return out
}

func echoCases() []testCase {
	var cs []testCase
	for _, sh := range echoShapes() {
		cs = append(cs, testCase{sh.name(), func(t *testing.T, backend string) { testEcho(t, backend, sh) }})
	}
	return cs
}

// fillMessage writes message (conn, seq) of len(p) bytes into p. Messages of 12 B or more
// carry seq, conn and a CRC-32C of the rest; 1..11 B messages are a deterministic pattern of
// (conn, seq) whose consecutive values differ, so loss, duplication and reordering show.
func fillMessage(p []byte, conn, seq uint32) {
	if len(p) < headerLen {
		for i := range p {
			p[i] = smallByte(conn, seq, i)
		}
		return
	}
	binary.BigEndian.PutUint32(p[0:], seq)
	binary.BigEndian.PutUint32(p[4:], conn)
	off := int(conn*131+seq*17) % 4096
	copy(p[headerLen:], payloadBlock[off:])
	binary.BigEndian.PutUint32(p[8:], messageCRC(p))
}

func smallByte(conn, seq uint32, i int) byte { return byte(seq*7 + conn*13 + uint32(i)*29 + 1) }

func messageCRC(p []byte) uint32 {
	c := crc32.Update(0, castagnoli, p[:8])
	return crc32.Update(c, castagnoli, p[headerLen:])
}

// checkMessage verifies message (conn, seq).
func checkMessage(p []byte, conn, seq uint32) error {
	if len(p) < headerLen {
		for i := range p {
			if want := smallByte(conn, seq, i); p[i] != want {
				return fmt.Errorf("conn %d message %d byte %d = %#x, want %#x (lost, duplicated, reordered or corrupt)", conn, seq, i, p[i], want)
			}
		}
		return nil
	}
	gotSeq, gotConn, gotCRC := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:]), binary.BigEndian.Uint32(p[8:])
	if gotCRC != messageCRC(p) {
		return fmt.Errorf("conn %d message %d: CRC-32C mismatch (corrupt; header says conn %d seq %d)", conn, seq, gotConn, gotSeq)
	}
	if gotConn != conn {
		return fmt.Errorf("conn %d message %d: belongs to conn %d (crossed sessions)", conn, seq, gotConn)
	}
	if gotSeq != seq {
		return fmt.Errorf("conn %d: got message %d, want %d (lost, duplicated or reordered)", conn, gotSeq, seq)
	}
	return nil
}

// dialMany opens n plain clients to addr with bounded concurrency (a SYN storm of 1000 would
// measure the listen backlog, not the backend).
func dialMany(tb testing.TB, addr net.Addr, n int) []*net.TCPConn {
	tb.Helper()
	conns := make([]*net.TCPConn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr.String(), ioTimeout)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c.(*net.TCPConn)
		}()
	}
	wg.Wait()
	tb.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("dial client %d of %d: %v", i, n, err)
		}
	}
	return conns
}

// deadliner refreshes a conn deadline as progress is made (a syscall-free runtime timer, but
// not free under -race, so at most every 100 ms).
type deadliner struct {
	last time.Time
	set  func(time.Time) error
}

func (d *deadliner) touch() {
	if now := time.Now(); now.Sub(d.last) > 100*time.Millisecond {
		d.last = now
		d.set(now.Add(ioTimeout))
	}
}

// echoClient streams msgs messages of size bytes through c and verifies what comes back;
// then it half-closes and expects EOF with nothing extra.
func echoClient(c *net.TCPConn, id uint32, size, msgs int) error {
	credits := make(chan struct{}, max(1, echoWindow/size))
	stop := make(chan struct{}) // closed when the reader gives up
	werr := make(chan error, 1)
	go func() {
		dl := deadliner{set: c.SetWriteDeadline}
		batch := make([]byte, 0, max(size, 64<<10))
		for seq := 0; seq < msgs; {
			select { // block for the first message of a batch
			case credits <- struct{}{}:
			case <-stop:
				werr <- nil
				return
			}
			batch = batch[:size]
			fillMessage(batch, id, uint32(seq))
			seq++
			for seq < msgs && len(batch)+size <= cap(batch) {
				select {
				case credits <- struct{}{}:
				default:
					goto write
				}
				batch = batch[:len(batch)+size]
				fillMessage(batch[len(batch)-size:], id, uint32(seq))
				seq++
			}
		write:
			dl.touch()
			if _, err := c.Write(batch); err != nil {
				werr <- fmt.Errorf("conn %d write: %w", id, err)
				return
			}
		}
		werr <- nil
	}()

	dl := deadliner{set: c.SetReadDeadline}
	r := bufio.NewReaderSize(c, 64<<10)
	msg := make([]byte, size)
	var err error
	for seq := 0; seq < msgs; seq++ {
		dl.touch()
		if _, err = io.ReadFull(r, msg); err != nil {
			err = fmt.Errorf("conn %d: read message %d of %d: %w (lost data or session closed early)", id, seq, msgs, err)
			break
		}
		if err = checkMessage(msg, id, uint32(seq)); err != nil {
			break
		}
		<-credits
	}
	if err != nil {
		close(stop)
		c.Close() // unblock the writer
		<-werr
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	// Everything came back: a half-close must now end the session gracefully with EOF and
	// nothing more (extra bytes = duplicated data).
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("conn %d CloseWrite: %w", id, err)
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := io.Copy(io.Discard, r)
	if n > 0 {
		return fmt.Errorf("conn %d: %d extra bytes after all %d messages (duplicated data)", id, n, msgs)
	}
	if err != nil {
		return fmt.Errorf("conn %d: after CloseWrite, want EOF, got %w", id, err)
	}
	return nil
}

func testEcho(t *testing.T, backend string, sh echoShape) {
	eng := Open(t, backend, models.Config{})
	k := Track(t, EchoHandler())
	svc := Listen(t, eng, k, models.ServiceOptions{})
	conns := dialMany(t, svc.Addr(), sh.conns)

	var wg sync.WaitGroup
	var failed atomic.Int32
	errs := make(chan error, sh.conns)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoClient(c, uint32(i), sh.size, sh.msgs); err != nil {
				failed.Add(1)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n < 10 {
			t.Error(err)
		}
		n++
	}
	if n > 0 {
		t.Fatalf("%d of %d connections failed", n, sh.conns)
	}

	// Every session ends once, gracefully (the peer half-closed after its echo came back).
	k.WaitDisconnects(t, sh.conns)
	if got := k.Reasons(); got[models.KickRecv0] != sh.conns || len(got) != 1 {
		t.Errorf("disconnect reasons %s, want recv_0:%d", joinReasons(got), sh.conns)
	}
	total := uint64(sh.size * sh.msgs * sh.conns)
	WaitFor(t, "Stats().Live == 0", func() bool { return svc.Stats().Live == 0 })
	st := svc.Stats()
	if st.Accepted != uint64(sh.conns) || st.Disconnects != uint64(sh.conns) {
		t.Errorf("Stats Accepted=%d Disconnects=%d, want %d each", st.Accepted, st.Disconnects, sh.conns)
	}
	if st.BytesRecv != total || st.BytesSent != total {
		t.Errorf("Stats BytesRecv=%d BytesSent=%d, want %d each", st.BytesRecv, st.BytesSent, total)
	}
	if st.Kicks[models.KickRecv0] != uint64(sh.conns) {
		t.Errorf("Stats Kicks[recv_0]=%d, want %d", st.Kicks[models.KickRecv0], sh.conns)
	}
	if st.Reads == 0 || st.Writes == 0 || st.Sends == 0 {
		t.Errorf("Stats Reads=%d Sends=%d Writes=%d: want nonzero", st.Reads, st.Sends, st.Writes)
	}
	// OnSend reports every gather write: its calls and bytes match the counters.
	if calls, n := k.OnSends(); n != int64(st.BytesSent) || calls != int64(st.Writes) {
		t.Errorf("OnSend reported %d calls, %d bytes; Stats Writes=%d BytesSent=%d: want equal", calls, n, st.Writes, st.BytesSent)
	}
	closeWithin(t, "Service.Close", svc.Close)
	k.Verify(t)
}
