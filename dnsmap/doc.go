// Package dnsmap is edgesim's authoritative DNS responder: it answers
// queries for the zones edgesim knows from a precomputed answer set.
//
// Typical usage:
//
//	set, err := dnsmap.Build(zones) // []dnsmap.Zone{{Name, Records}}
//	if err != nil {
//		return err // every invalid record, all at once
//	}
//	srv, err := dnsmap.New(dnsmap.Options{Logger: log, Registerer: reg})
//	srv.Store(set)
//	go srv.ServeUDP(ctx, udpConn) // batched recvmmsg/sendmmsg on Linux
//	go srv.ServeTCP(ctx, tcpListener)
//	...
//	srv.Store(next) // atomic; no query is dropped
//	srv.Shutdown(ctx)
//
// # Ownership
//
// dnsmap owns DNS wire handling for the data plane: parsing queries,
// authoritative semantics (RFC 1034/2308/4592/6891 as Knot implements
// them), compression and truncation, and the UDP/TCP serving loops. It
// does not decide what the answers are: the caller (the node reconciler,
// from the control-plane snapshot) resolves address maps and Spectrum edge
// IPs into plain records, TTL 300 for proxied names, and hands them over
// as [Zone] values.
//
// # Answer set
//
// [Build] turns the zones into a [Set]: for every owner name, and every
// query type that can reach it, the answer sections are packed to wire
// format once, with names compressed into the question the way Knot does
// (so the query's spelling shows through wherever a pointer lands).
// Answering a query is one map lookup by lowercased name (or a walk up to
// the closest encloser for wildcards and NXDOMAIN), a copy of the
// precomputed bytes behind the query's own question, and for templates a
// few patched pointers. The answer path allocates nothing.
//
// # Concurrency
//
// A Set is immutable once Build returns and is safe for concurrent use. A
// [Server] serves the Set last given to [Server.Store], which publishes it
// with one atomic pointer store; each batch of datagrams (and each read on
// a TCP connection) loads the pointer once and answers from that Set, so a
// swap never drops or mixes a query. Server methods are safe for
// concurrent use.
//
// # Imports
//
// dnsmap is a data-plane package: it must not import edgesim's api, store
// or node packages (enforced by deps_test.go). It uses github.com/miekg/dns
// types for records and parsing zone data, golang.org/x/sys/unix for the
// batched socket calls, and Prometheus for counters.
package dnsmap
