package modeltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iobench/iobench/models"
)

// testGather: small Sends from several goroutines and from Post jobs, all on one session
// captured in OnConnect, arrive complete and in per-sender order, and the backend coalesces
// them (ServiceStats.Writes < Sends).
func testGather(t *testing.T, backend string) {
	const (
		goroutines = 4    // senders 0..3 are goroutines, sender 4 is Post jobs
		perSender  = 2000 // messages per sender
		msgLen     = 16
	)
	eng := Open(t, backend, models.Config{})
	var sendErrs, postErrs atomic.Int64
	var firstErr atomic.Pointer[error]
	fail := func(n *atomic.Int64, err error) {
		n.Add(1)
		firstErr.CompareAndSwap(nil, &err)
	}
	var senders sync.WaitGroup
	k := Track(t, models.HandlerFuncs{Connect: func(s models.Session) {
		var start sync.WaitGroup
		start.Add(1)
		for g := range goroutines {
			senders.Add(1)
			go func() {
				defer senders.Done()
				start.Wait()
				msg := make([]byte, msgLen) // reused: Send must copy
				for i := range perSender {
					gatherMsg(msg, g, i)
					if err := s.Send(msg); err != nil {
						fail(&sendErrs, fmt.Errorf("sender %d Send %d: %w", g, i, err))
						return
					}
				}
			}()
		}
		senders.Add(1)
		go func() {
			defer senders.Done()
			start.Wait()
			for i := range perSender {
				err := eng.Post(func() {
					msg := make([]byte, msgLen)
					gatherMsg(msg, goroutines, i)
					if err := s.Send(msg); err != nil {
						fail(&sendErrs, fmt.Errorf("Post job %d Send: %w", i, err))
					}
				})
				if err != nil {
					fail(&postErrs, fmt.Errorf("Post %d: %w", i, err))
					return
				}
			}
		}()
		start.Done()
	}})
	svc := Listen(t, eng, k, models.ServiceOptions{})
	c := Dial(t, svc.Addr())

	const total = (goroutines + 1) * perSender
	next := make([]int, goroutines+1)
	r := io.Reader(c)
	msg := make([]byte, msgLen)
	dl := deadliner{set: c.SetReadDeadline}
	for i := range total {
		dl.touch()
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatalf("read message %d of %d: %v (send errors %d, post errors %d, first %v)", i, total, err, sendErrs.Load(), postErrs.Load(), loadErr(&firstErr))
		}
		sender, seq, err := parseGatherMsg(msg)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if sender > goroutines {
			t.Fatalf("message %d: sender %d out of range", i, sender)
		}
		if seq != next[sender] {
			t.Fatalf("sender %d: got message %d, want %d (lost, duplicated or reordered)", sender, seq, next[sender])
		}
		next[sender]++
	}
	senders.Wait()
	if n := sendErrs.Load() + postErrs.Load(); n > 0 {
		t.Fatalf("%d Send/Post errors, first: %v", n, loadErr(&firstErr))
	}
	// The peer can read the last bytes before the writer that wrote them has counted them
	// (the counters follow the write's return): wait for both counts.
	WaitFor(t, "Stats() to count every Send and every byte", func() bool {
		st := svc.Stats()
		return st.Sends >= total && st.BytesSent >= total*msgLen
	})
	st := svc.Stats()
	if st.Sends != total {
		t.Errorf("Stats().Sends = %d, want %d", st.Sends, total)
	}
	if st.Writes >= st.Sends {
		t.Errorf("Stats().Writes = %d, Sends = %d: want Writes < Sends (Sends queued while a write is in flight must go out as one gather write)", st.Writes, st.Sends)
	}
	if st.BytesSent != total*msgLen {
		t.Errorf("Stats().BytesSent = %d, want %d", st.BytesSent, total*msgLen)
	}
	t.Logf("gather: %d Sends in %d writes", st.Sends, st.Writes)
	CloseEngine(t, eng)
	k.Verify(t)
}

func loadErr(p *atomic.Pointer[error]) error {
	if e := p.Load(); e != nil {
		return *e
	}
	return nil
}

func gatherMsg(p []byte, sender, seq int) {
	p[0], p[1], p[2], p[3] = 0xA5, byte(sender), 0, 0
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	binary.BigEndian.PutUint32(p[8:], crc32.Checksum(p[:8], castagnoli))
	binary.BigEndian.PutUint32(p[12:], ^uint32(seq))
}

func parseGatherMsg(p []byte) (sender, seq int, err error) {
	if p[0] != 0xA5 || binary.BigEndian.Uint32(p[8:]) != crc32.Checksum(p[:8], castagnoli) ||
		binary.BigEndian.Uint32(p[12:]) != ^binary.BigEndian.Uint32(p[4:]) {
		return 0, 0, fmt.Errorf("corrupt message % x", p)
	}
	return int(p[1]), int(binary.BigEndian.Uint32(p[4:])), nil
}

// testSlowConsumer: a peer that never reads; the server floods its session until Send returns
// ErrSendQueueFull, the session is kicked with KickSendQueueFull, memory stays bounded by the
// queue limit, and another session keeps working meanwhile.
func testSlowConsumer(t *testing.T, backend string) {
	const limit = 1 << 20
	eng := Open(t, backend, models.Config{SendQueueLimit: limit})

	type floodResult struct {
		err       error
		id        uint64
		pushed    uint64 // bytes accepted by Send
		sentAtErr uint64 // service BytesSent when Send refused
		heapGrow  uint64 // max HeapInuse growth seen while flooding
	}
	floodDone := make(chan floodResult, 1)
	var svc models.Service
	var svcReady sync.WaitGroup
	svcReady.Add(1)
	flood := func(s models.Session) {
		svcReady.Wait()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		res := floodResult{id: s.ID()}
		buf := pattern(16 << 10)
		for i := 0; ; i++ {
			if res.pushed > limit+256<<20 {
				res.err = fmt.Errorf("Send accepted %d bytes for a peer that never reads, limit %d: the send queue is not bounded", res.pushed, limit)
				break
			}
			if err := s.Send(buf); err != nil {
				res.err = err
				res.sentAtErr = svc.Stats().BytesSent
				break
			}
			res.pushed += uint64(len(buf))
			if i%64 == 0 {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base {
					res.heapGrow = max(res.heapGrow, ms.HeapInuse-base)
				}
			}
		}
		floodDone <- res
	}
	k := Track(t, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		if w[0] == 'S' && s.UserData() == nil {
			s.SetUserData("slow")
			go flood(s)
			return len(w)
		}
		s.Send(w)
		return len(w)
	}})
	svc = Listen(t, eng, k, models.ServiceOptions{})
	svcReady.Done()

	good := Dial(t, svc.Addr())
	RoundTrip(t, good, []byte("before"))
	slow := Dial(t, svc.Addr())
	slow.SetReadBuffer(4 << 10)
	if _, err := slow.Write([]byte("S")); err != nil {
		t.Fatal(err)
	}
	// The other session keeps working while the slow one is flooded.
	var res floodResult
	for i := 0; ; i++ {
		select {
		case res = <-floodDone:
		default:
			RoundTrip(t, good, []byte(fmt.Sprintf("during %d", i)))
			continue
		}
		break
	}
	if !errors.Is(res.err, models.ErrSendQueueFull) {
		t.Fatalf("flooding a peer that never reads: Send = %v, want ErrSendQueueFull", res.err)
	}
	if r := k.WaitReason(t, res.id); r != models.KickSendQueueFull {
		t.Errorf("slow session disconnect reason %v, want send_queue_full", r)
	}
	if queued := res.pushed - min(res.pushed, res.sentAtErr); queued > 2*limit {
		t.Errorf("Send accepted %d bytes, %d written: %d queued, want <= %d (the queue bound)", res.pushed, res.sentAtErr, queued, limit)
	}
	if bound := uint64(4*limit + 32<<20); res.heapGrow > bound {
		t.Errorf("heap grew %d bytes while flooding a session with SendQueueLimit %d, want < %d", res.heapGrow, limit, bound)
	}
	t.Logf("slow consumer: %d bytes accepted, %d written when full, heap growth %d", res.pushed, res.sentAtErr, res.heapGrow)
	RoundTrip(t, good, []byte("after"))
	if st := svc.Stats(); st.Kicks[models.KickSendQueueFull] != 1 || st.Live != 1 {
		t.Errorf("Stats Kicks[send_queue_full]=%d Live=%d, want 1 and 1", st.Kicks[models.KickSendQueueFull], st.Live)
	}
	CloseEngine(t, eng)
	k.Verify(t)
}
