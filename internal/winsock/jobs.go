package winsock

import "sync"

// JobQueue is an engine's posted jobs (the seed's PushIocpJob): Post queues a job and wakes
// the loop that runs them with one packet per job (PostQueuedCompletionStatus), RunOne runs
// the oldest job per packet, so jobs run one at a time in the order Post returned. It is
// platform-neutral; the wake-up is the caller's.
type JobQueue struct {
	mu     sync.Mutex
	jobs   []func()
	head   int
	closed bool
}

// Post queues job and calls wake under the queue's lock, so packets are posted in queue order
// and Close (which takes the lock) cannot close the port under wake. When wake fails the job
// is taken back out: a failing Post leaves nothing queued and the job never runs. It returns
// closed (the caller's ErrClosed) after Close, or wake's error.
func (q *JobQueue) Post(job func(), wake func() error, closed error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return closed
	}
	q.jobs = append(q.jobs, job)
	if err := wake(); err != nil {
		q.jobs[len(q.jobs)-1] = nil
		q.jobs = q.jobs[:len(q.jobs)-1]
		return err
	}
	return nil
}

// RunOne runs the oldest queued job and reports whether there was one.
func (q *JobQueue) RunOne() bool {
	q.mu.Lock()
	if q.head == len(q.jobs) {
		q.mu.Unlock()
		return false
	}
	job := q.jobs[q.head]
	q.jobs[q.head] = nil
	q.head++
	if q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	}
	q.mu.Unlock()
	job()
	return true
}

// Close refuses further Posts.
func (q *JobQueue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// Drain runs every job still queued (their packets were not consumed before the loop quit).
func (q *JobQueue) Drain() {
	for q.RunOne() {
	}
}
