// Package agent is `iobench agent`: the process that runs on every host of a multi-host run
// and does, on command of the coordinator (`iobench run --server-agent HOST:PORT
// --load-agents A,B,...`), what `iobench run` does locally: a server agent starts and stops
// `iobench serve --control` children and probes them at the window edges on its own host (the
// same probes as a local run: /proc, perf, the server's control channel; what the host or its
// container cannot see is null), a load agent runs its share of a load and returns its result
// with its HDR histograms.
//
// # Security
//
// An agent runs processes on command, so every request must carry the shared token:
//
//	Authorization: Bearer TOKEN
//
// compared in constant time (SHA-256 of both sides, crypto/subtle). A request without it or
// with another one is answered 401 and logged on the agent's stderr (method, path, peer).
// The token is given with --token or the environment variable IOBENCH_TOKEN (the variable
// keeps it out of the process list). An agent asked to listen on a non-loopback address
// without a token refuses to start; on a loopback address without a token it accepts every
// request from this host (and says so at start). The token authenticates the coordinator; it
// does not encrypt: run agents on a network you trust (a lab, a VPN, a private overlay).
// Servers started through an agent are `iobench serve` with serve's flags only: the protocol
// has no way to run another program.
//
// # Protocol
//
// HTTP/1.1, JSON bodies (the types are harness.Wire*), standard library only. Errors are a
// status ≥ 400 with {"error": "..."}: 400 bad request, 401 no or wrong token, 404 unknown
// id, 409 the operation failed (a server that did not start, a wait that timed out), 500 an
// encoding failure.
//
//	GET  /v1/info                    harness.WireInfo: hostname, OS, CPUs, serve host, netns, clock
//	GET  /v1/time                    harness.WireTime: the agent's wall clock in Unix ns
//
// Server agent (one entry per `serve --control` child):
//
//	POST /v1/servers                 WireServerSpec → WireServer (id, listen address, pid)
//	POST /v1/servers/{id}/ready      {"n": N, "timeout_ns": T}: until the app has exactly N
//	                                 sessions through OnConnect (Server.WaitReady)
//	POST /v1/servers/{id}/prepare    {"syscalls": bool}: the idle reading, the syscall counter
//	POST /v1/servers/{id}/begin      probes at the window's start
//	POST /v1/servers/{id}/end        probes at the window's end
//	GET  /v1/servers/{id}/window     harness.WireProbes of the last window
//	POST /v1/servers/{id}/crash      SIGKILL and restart on the same address
//	POST /v1/servers/{id}/stop       quit; the entry is removed
//
// Load agent (one job per share of a load):
//
//	POST   /v1/loads                 harness.WireLoad → {"id": ID}: the agent connects the
//	                                 share's connections (state "connecting", then "connected")
//	POST   /v1/loads/{id}/go         {"start_unix_ns": T}: traffic starts at T on the agent's
//	                                 clock (state "running")
//	GET    /v1/loads/{id}?wait=S&timeout_ms=M   {"state", "error", "result"}: waits up to M ms
//	                                 for state S (connected or done); "result" is a
//	                                 harness.WireResult once done
//	POST   /v1/loads/{id}/cancel     stops the share (the result so far, as on Ctrl-C)
//	DELETE /v1/loads/{id}            forgets the job
//
// A job not told to go within 60 s of being connected ends with an error (a coordinator that
// died does not leave connections open). When the agent stops (SIGINT/SIGTERM, exit 130/143)
// it cancels every load and stops every server it started.
//
// # Clock offsets
//
// The coordinator estimates each agent's clock offset as NTP does: it reads /v1/time several
// times and keeps the sample with the smallest round trip, offset = agent time − midpoint of
// the request's send and receive times, error ≤ RTT/2. It converts the common start instant
// into every agent's clock with it and records offset and RTT in the result's topology.
package agent
