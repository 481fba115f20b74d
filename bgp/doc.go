// Package bgp announces edgesim's prefixes over BGP with an embedded GoBGP
// v3 (github.com/osrg/gobgp/v3 v3.37.0) behind a small API of edgesim's
// own types: netip.Prefix, Attrs, PeerConfig, PeerStatus. GoBGP types
// never leave the package; data-plane tests use bgptest.Fake through the
// Announcer interface.
//
// Ownership: a Speaker owns its GoBGP server. What is announced is
// computed elsewhere (the control-plane snapshot: every advertised BGP
// prefix of an approved prefix with a default binding, plus the anycast
// pool) and handed to Sync as the complete desired set; ASPath implements
// the AS_PATH rule (13335, the customer ASN, asn_prepend_count more 13335s).
// A global GoBGP export policy (default reject; accept only locally
// originated paths whose prefix is in the Sync set) guarantees nothing
// else is ever announced, and a global import policy keeps routes that
// peers send out of the RIB.
//
// Concurrency: all Speaker methods are safe for concurrent use; SetPeers,
// Sync and Close are serialized. Peer transitions are logged once each
// (slog, component=bgp); GoBGP's own log goes through an adapter (its Info
// becomes Debug).
//
// Speed: GoBGP v3 sends one UPDATE per prefix for paths added on a live
// session, but packs whole-table sends (session start, soft reset out).
// Sync therefore applies large diffs in bulk: it holds the changed
// prefixes back with the export policy while loading them, then soft-resets
// the peers out; removed prefixes are tagged LLGR_STALE by the policy
// during that pass, which GoBGP turns into packed withdrawals, and leave
// GoBGP's RIB later. Paths are loaded through GoBGP's gRPC AddPathStream
// on a private unix socket, one management operation per batch.
// SyncStaged also keeps staged routes (BGP prefixes not advertised yet)
// loaded but rejected by the export policy, so that announcing them later
// is an allow-set update and a soft reset, not a load. See the README for
// the measured numbers.
//
// This package must not import api, store, node or net/http server code
// (deps_test.go enforces it).
package bgp
