package models

import "sync"

// JobLoop is a goroutine that runs posted jobs one at a time in FIFO order, for backends whose
// I/O model has no native job queue (Go net, gnet, netpoll). Backends with one (IOCP's
// PostQueuedCompletionStatus, an eventfd-woken epoll loop, an io_uring MSG_RING/NOP) use it.
type JobLoop struct {
	mu     sync.Mutex
	q      []func()
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

// NewJobLoop starts a job loop. Its jobs run under (*JobLoop).run, which every Inside set
// contains, so an Engine.Close called from a job knows it runs inside the engine.
func NewJobLoop() *JobLoop {
	l := &JobLoop{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Post queues job; it never blocks. It returns ErrClosed after Close.
func (l *JobLoop) Post(job func()) error {
	if job == nil {
		return badConfig("nil job")
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.q = append(l.q, job)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

func (l *JobLoop) run() {
	defer close(l.done)
	var batch []func()
	for {
		l.mu.Lock()
		batch, l.q = l.q, batch[:0]
		closed := l.closed
		l.mu.Unlock()
		for i, job := range batch {
			job()
			batch[i] = nil
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-l.wake
		}
	}
}

// Close runs the jobs already queued, stops the loop and waits for it.
func (l *JobLoop) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
}
