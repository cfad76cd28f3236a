// Package tinybackend is the smallest iobench backend, written from CONTRIBUTING.md alone to
// prove that page: blocking sockets on raw Linux system calls (accept(2), connect(2), read(2),
// writev(2)), one reader goroutine per session and one goroutine per writer's turn, and every
// rule of the contract taken from models (ServiceCore, SessionCore.Recv, Flush, EndSession,
// KickOpen, Closer). It is registered only by the programs that import it (its own test);
// cmd/iobench does not link it. A blocked thread per connection is not an I/O model worth
// measuring: the package exists to show what a backend must write, and that modeltest.Run
// checks all of it.
//
// Other platforms: models.Unsupported (unsupported_other.go).
package tinybackend
