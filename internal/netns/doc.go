// Package netns builds iobench's one-machine multi-host topology (`iobench run --topology
// netns`): the server agent and N load agents each in its own network namespace
// (ip-netns(8)), every namespace joined by a veth pair (veth(4)) to one bridge in the
// initial namespace, each agent a child process started inside its namespace with `ip netns
// exec`. With a netem spec every load link is emulated in both directions: by the kernel's
// netem qdisc (tc-netem(8)) on both ends of the load's veth where the kernel has sch_netem,
// else by a user-space link: a TUN device in the load's namespace and one in the server's,
// joined by a forwarder in this process (package netem), the load's route to the server
// through it.
//
// Everything it creates is named after this process's pid (namespaces "iob-PID-s",
// "iob-PID-l0"..., links "iobPID..."), so Setup first removes what a dead process left
// (a crash, a second Ctrl-C), and Close removes what this one made. It needs root and
// iproute2 (Check).
package netns
