package models_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/iobench/iobench/models"
)

func newSendQueue(tb testing.TB, limit int) *models.SendQueue {
	tb.Helper()
	q, err := models.NewSendQueue(limit)
	if err != nil {
		tb.Fatalf("NewSendQueue(%d): %v", limit, err)
	}
	return q
}

func seqBytes(n, from int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((from + i) * 7)
	}
	return p
}

func peekAll(q *models.SendQueue, max int) []byte {
	return bytes.Join(q.Peek(nil, max), nil)
}

func TestSendQueuePushStartsOneWriter(t *testing.T) {
	q := newSendQueue(t, 1<<20)
	for i, want := range []bool{true, false, false} {
		start, err := q.Push([]byte("abc"))
		if err != nil || start != want {
			t.Fatalf("Push %d = %v, %v; want %v, nil", i, start, err, want)
		}
	}
	if q.Idle() {
		t.Error("Idle() with bytes queued")
	}
	if got := q.Peek(nil, 64); len(got) != 1 || string(got[0]) != "abcabcabc" {
		t.Errorf("small pushes not packed into one chunk: Peek = %q", got)
	}
	if more := q.Advance(9); more {
		t.Error("Advance of everything reported more")
	}
	if !q.Idle() || q.Len() != 0 {
		t.Errorf("after draining Idle() = %v Len() = %d", q.Idle(), q.Len())
	}
	if start, _ := q.Push([]byte("x")); !start {
		t.Error("Push after the writer's turn ended did not start a new writer")
	}
}

func TestSendQueueEmptyPush(t *testing.T) {
	q := newSendQueue(t, 16)
	if start, err := q.Push(nil); start || err != nil {
		t.Errorf("Push(nil) = %v, %v; want false, nil (nothing to write)", start, err)
	}
	if !q.Idle() {
		t.Error("empty push left the queue busy")
	}
}

func TestSendQueuePeekAndPartialAdvance(t *testing.T) {
	const C = models.SendChunkSize
	for _, tc := range []struct {
		name     string
		pushes   []int // sizes pushed
		maxBufs  int
		wantBufs []int // lengths of the views of the first Peek
		advances []int // partial writes, applied in turn; the stream must stay intact
	}{
		{"one chunk", []int{10, 20, 30}, 64, []int{60}, []int{7, 0, 53}},
		{"spans chunks", []int{C + 100}, 64, []int{C, 100}, []int{C - 1, 1, 50, 50}},
		{"max bufs bounds the gather", []int{3*C + 1}, 2, []int{C, C}, []int{C, C, C, 1}},
		{"advance across a chunk boundary", []int{C, C, 10}, 64, []int{C, C, 10}, []int{C + 5, C - 5, 10}},
		{"many small writes", []int{1, 1, 1, 1, 1}, 64, []int{5}, []int{1, 1, 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSendQueue(t, 1<<20)
			var want []byte
			for _, n := range tc.pushes {
				p := seqBytes(n, len(want))
				want = append(want, p...)
				if _, err := q.Push(p); err != nil {
					t.Fatal(err)
				}
			}
			var lens []int
			for _, b := range q.Peek(nil, tc.maxBufs) {
				lens = append(lens, len(b))
			}
			if !equalInts(lens, tc.wantBufs) {
				t.Errorf("Peek view lengths %v, want %v", lens, tc.wantBufs)
			}
			off := 0
			for i, n := range tc.advances {
				got := peekAll(q, 1<<20)
				if !bytes.Equal(got, want[off:]) {
					t.Fatalf("before advance %d: queued bytes differ from the unsent stream at offset %d", i, off)
				}
				off += n
				more := q.Advance(n)
				if wantMore := off < len(want); more != wantMore {
					t.Fatalf("Advance(%d) = %v at %d/%d", n, more, off, len(want))
				}
				if q.Len() != len(want)-off {
					t.Fatalf("Len() = %d, want %d", q.Len(), len(want)-off)
				}
			}
			if !q.Idle() {
				t.Error("not idle after writing everything")
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSendQueueLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int
		pushes  []int
		wantErr []bool
		wantLen int
	}{
		{"exactly the limit fits", 100, []int{60, 40}, []bool{false, false}, 100},
		{"one byte over is refused whole", 100, []int{60, 41}, []bool{false, true}, 60},
		{"a refused push leaves room for a smaller one", 100, []int{60, 41, 40}, []bool{false, true, false}, 100},
		{"a single push above the limit", 10, []int{11}, []bool{true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSendQueue(t, tc.limit)
			for i, n := range tc.pushes {
				_, err := q.Push(make([]byte, n))
				if full := errors.Is(err, models.ErrSendQueueFull); full != tc.wantErr[i] || (err != nil && !full) {
					t.Fatalf("Push %d (%d B) = %v, want full=%v", i, n, err, tc.wantErr[i])
				}
			}
			if q.Len() != tc.wantLen {
				t.Errorf("Len() = %d, want %d", q.Len(), tc.wantLen)
			}
		})
	}
	t.Run("written bytes free room", func(t *testing.T) {
		q := newSendQueue(t, 10)
		q.Push(make([]byte, 10))
		q.Advance(4)
		if _, err := q.Push(make([]byte, 4)); err != nil {
			t.Errorf("Push after Advance freed 4 B: %v", err)
		}
	})
}

func TestSendQueueClose(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		q := newSendQueue(t, 100)
		q.Close()
		if _, err := q.Push([]byte("x")); !errors.Is(err, models.ErrClosed) {
			t.Errorf("Push after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("writer in flight", func(t *testing.T) {
		q := newSendQueue(t, 100)
		q.Push([]byte("hello world"))
		views := q.Peek(nil, 8)
		q.Close()
		if string(bytes.Join(views, nil)) != "hello world" {
			t.Error("Close freed the buffers a writer in flight still reads")
		}
		if more := q.Advance(5); more {
			t.Error("Advance after Close reported more: the writer must stop")
		}
		q.Release()
		if q.Len() != 0 {
			t.Errorf("Len() = %d after Release", q.Len())
		}
	})
	t.Run("reset reopens", func(t *testing.T) {
		q := newSendQueue(t, 100)
		q.Push([]byte("abc"))
		q.Close()
		if err := q.Reset(50); err != nil {
			t.Fatal(err)
		}
		if !q.Idle() || q.Len() != 0 {
			t.Errorf("after Reset Idle() = %v Len() = %d", q.Idle(), q.Len())
		}
		if start, err := q.Push(make([]byte, 50)); !start || err != nil {
			t.Errorf("Push after Reset = %v, %v", start, err)
		}
		if _, err := q.Push([]byte("x")); !errors.Is(err, models.ErrSendQueueFull) {
			t.Errorf("Reset did not apply the new limit: %v", err)
		}
	})
	t.Run("release", func(t *testing.T) {
		q := newSendQueue(t, 100)
		q.Push([]byte("abc"))
		q.Release()
		if q.Len() != 0 {
			t.Errorf("Len() = %d after Release", q.Len())
		}
		if _, err := q.Push([]byte("x")); !errors.Is(err, models.ErrClosed) {
			t.Errorf("Push after Release = %v, want ErrClosed", err)
		}
	})
}

func TestSendQueueBadLimit(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := models.NewSendQueue(n); !errors.Is(err, models.ErrBadConfig) {
			t.Errorf("NewSendQueue(%d) = %v, want ErrBadConfig", n, err)
		}
	}
}

// TestSendQueueConcurrent runs the backend protocol: producers push sequenced messages from
// many goroutines, whoever gets start==true drains with partial "writes"; every producer's
// messages come out whole and in order.
func TestSendQueueConcurrent(t *testing.T) {
	const producers, perProducer, msgLen = 8, 2000, 12
	q := newSendQueue(t, 1<<30)
	var outMu sync.Mutex
	var out []byte
	drain := func() {
		for {
			bufs := q.Peek(nil, 4)
			n := 0
			for _, b := range bufs {
				k := len(b)
				if k > 7 {
					k = k/2 + 1 // partial write
				}
				outMu.Lock()
				out = append(out, b[:k]...)
				outMu.Unlock()
				n += k
				if k < len(b) {
					break
				}
			}
			if !q.Advance(n) {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, msgLen)
			for i := range perProducer {
				binary.BigEndian.PutUint32(msg, uint32(p))
				binary.BigEndian.PutUint32(msg[4:], uint32(i))
				binary.BigEndian.PutUint32(msg[8:], ^uint32(i))
				start, err := q.Push(msg)
				if err != nil {
					t.Error(err)
					return
				}
				if start {
					drain()
				}
			}
		}()
	}
	wg.Wait()
	if !q.Idle() {
		t.Fatal("queue not idle after every writer finished")
	}
	if len(out) != producers*perProducer*msgLen {
		t.Fatalf("%d bytes out, want %d", len(out), producers*perProducer*msgLen)
	}
	next := make([]uint32, producers)
	for off := 0; off < len(out); off += msgLen {
		p, i, c := binary.BigEndian.Uint32(out[off:]), binary.BigEndian.Uint32(out[off+4:]), binary.BigEndian.Uint32(out[off+8:])
		if p >= producers || c != ^i || i != next[p] {
			t.Fatalf("message at %d: producer %d seq %d check %#x, want seq %d", off, p, i, c, next[p%producers])
		}
		next[p]++
	}
}
