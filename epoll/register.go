package epoll

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "epoll"

// LockEnv, set to 1 in the server's environment, locks each loop goroutine to its OS thread
// (runtime.LockOSThread), the classic reactor layout. It is off by default because it measured
// dearer in server CPU per message (the README has the figures); the switch keeps both
// layouts measurable in one run: IOBENCH_EPOLL_LOCK=1 iobench serve --backend epoll ...
const LockEnv = "IOBENCH_EPOLL_LOCK"

// RecvEnv picks the receive path, read by New: "lazy" (the default) reads into the loop's
// scratch buffer and gives a session a RecvBuffer only while a partial frame is pending
// (models.RecvBuffer.InitLazy), so idle sessions hold none; "resident" reads into each
// session's own RecvBuffer, kept for the slot's life (the first design), so both stay
// measurable in one run: IOBENCH_EPOLL_RECV=resident iobench serve --backend epoll ...
const RecvEnv = "IOBENCH_EPOLL_RECV"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "raw epoll reactor: level-triggered event loops, SO_REUSEPORT listener per loop, writev gather, eventfd wakeups",
		Available: available,
		New:       New,
		Note:      "loops not locked to OS threads by default (measured cheaper); " + LockEnv + "=1 locks them",
	})
}

// New builds an epoll engine. Where epoll does not exist it returns the error of Available,
// which matches models.ErrUnsupported.
func New(cfg models.Config) (models.Engine, error) {
	if err := available(); err != nil {
		return nil, err
	}
	return newEngine(cfg)
}
