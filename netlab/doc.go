// Package netlab builds BGP lab topologies in Linux network namespaces:
// namespaces, veth links (IPv4 and IPv6 addresses, IPv6 with nodad), AnyIP
// local routes, and FRR (bgpd with or without zebra) and BIRD daemons, each
// in its own namespace and runtime directory so several run at once. It is
// used by integration tests (through internal/netnstest) and edgectl lab.
//
// Ownership: a Lab owns everything it creates and Close removes it all:
// daemons are stopped by PID (SIGTERM, then SIGKILL), remaining processes
// in its namespaces are killed by PID, namespaces and host links are
// deleted. Names carry the runner's PID (el<pid>-<lab>-<name>,
// el<pid>h<n>); New reaps leftovers of runners that are no longer alive,
// so a killed test run is cleaned up by the next one. Daemons get
// Pdeathsig, so they die with the runner.
//
// Addresses come from documentation space only: host links use
// 192.0.2.128/25 (/30 each, checked against the host's addresses under a
// file lock) and 2001:db8:ff00::/48; namespace-to-namespace links use
// 192.0.2.0/25 and 2001:db8:fe00::/48. 198.51.100.0/24 (the demo anycast
// pool) and 203.0.113.0/24 (the demo customer prefix) stay free for what
// the edge announces.
//
// Concurrency: Lab methods are safe for concurrent use. Everything needs
// root and iproute2. This package must not import api, store or node.
package netlab
