package uring

import "github.com/iobench/iobench/models"

// Name is the backend name, equal to its folder name.
const Name = "uring"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "raw io_uring proactor: multishot accept/recv, provided-buffer rings, sendmsg gather writes",
		Available: available,
		New:       newEngine,
		Note: "receive mode from IOBENCH_URING_RECV: multishot (default; delivered in place from the " +
			"provided buffer) or direct (single-shot recv into the RecvBuffer)",
	})
}
