// Package edgelab is edgesim's network lab: edged on the wire between a
// client and an origin, peering with a real router, in network namespaces
// built with netlab.
//
//	client ── peer (FRR bgpd+zebra, AS65001) ── edge (edged, AS13335) ── origin
//
// Up builds the namespaces and links (addresses from netlab's plan), starts
// FRR in peer, the demo origin services in origin (ServeOriginTCP prints the
// PROXY header it received; ServeOriginUDP echoes with SPP) and edged in edge
// with listen.proxy and listen.anyip on, its DNS on the edge's link address
// and its API socket opened in the host namespace and inherited (edged
// -listen-fd), so the API is on 127.0.0.1 while the data plane is in the
// namespace. Demo walks the product's BYOIP workflow through the HTTP API
// only. edgectl lab (plain namespace names, for people) and the end-to-end
// test (PID-tagged names) are its two users.
//
// Ownership: a Lab owns its namespaces and processes through its
// netlab.Lab; Close stops edged first (it withdraws while FRR listens), then
// everything else. This package must not import api, store or node: it
// talks to edged as a user does.
package edgelab
