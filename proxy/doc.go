// Package proxy is edgesim's L4 proxy for Spectrum apps: it accepts TCP
// connections and UDP datagrams for every IP of a bound prefix on wildcard
// sockets, looks the real destination up in a routing Table, applies the
// app's ip_firewall, and relays to the app's origin with the configured
// PROXY protocol (v1, v2) or Simple Proxy Protocol.
//
// Typical usage:
//
//	p, err := proxy.New(proxy.Options{Logger: log, Registerer: reg})
//	p.Store(&proxy.Config{Table: table, Firewall: proxy.Rules(rules)})
//	p.Listen(ctx, proxy.TCP, 443) // one wildcard listener per transport and port
//	...
//	p.Store(next)                 // new connections follow next; old ones keep going
//	p.Shutdown(ctx)               // stop accepting, drain until ctx ends
//
// # Ownership
//
// The Proxy owns its listeners (those opened by Listen and those handed to
// ServeTCP/ServeUDP), every accepted connection, origin connection and UDP
// flow socket. It does not own the Config: the caller builds it, stores it
// with Store and must not modify it, nor the Apps it reaches, afterwards.
// The routing Table is an interface so the control plane can back it with
// its own lookup structure (the lpm package, via config's Snapshot); this
// package does not depend on either.
//
// # Concurrency
//
// All methods of Proxy are safe for concurrent use. Store publishes a Config
// atomically; each TCP connection and each new UDP flow loads it once and
// keeps the App it was routed to for its whole life, so a config swap never
// disturbs established traffic. Table.Route and Firewall run concurrently
// on the accept path and must neither block nor mutate shared state.
// Nothing is logged per connection or datagram above Debug; the
// edgesim_proxy_* Prometheus counters carry the per-app numbers.
//
// # Data path
//
// TCP: the connection's local address is the edge IP and port (AnyIP local
// route, or 127.0.0.0/8 on loopback). Both sides stay bare *net.TCPConn; each
// direction moves its first 64 KiB with read/write through a pooled buffer
// and then splices (io.Copy over an *io.LimitedReader of exactly the queued
// bytes), so an idle connection holds no pipe and no buffer: two sockets and
// two goroutines. FIN is forwarded as a half-close, an error (RST) on either
// side resets the other (SO_LINGER 0).
//
// UDP: one socket per port with IP_PKTINFO/IPV6_RECVPKTINFO; flows are keyed
// by (client, edge address) and each gets a connected upstream socket, read
// and written in batches with recvmmsg/sendmmsg. PROXY v2 over UDP goes on
// the first datagram of a flow only, as Cloudflare documents; SPP goes on
// every datagram both ways and the origin's header is checked and stripped.
//
// The package is Linux-only (splice, SIOCINQ, recvmmsg/sendmmsg, pktinfo).
//
// # Imports
//
// proxy is data plane: it must not import the control plane (api, store)
// or the node wiring; deps_test.go enforces it. It depends on the standard
// library, golang.org/x/sys, miekg/dns (origin_dns) and the Prometheus
// client.
package proxy
