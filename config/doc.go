// Package config is edgesim's object model and daemon configuration.
//
// The object model (Prefix, Delegation, Binding, BGPPrefix, collected in a
// State) is what the API changes and the store persists; the seeded
// Services are fixed. The daemon configuration (Daemon) holds listen
// addresses, the state file, accounts, zones, credentials, validation
// sources and timing; Decode reads it strictly (unknown fields and a wrong
// version are errors) and Validate reports every problem at once, each a
// *FieldError with its field path.
//
// Compile turns a State into an immutable Snapshot (the FIB as an lpm
// table, the announced BGP prefixes); a Holder publishes snapshots to the
// data plane with one atomic pointer swap.
//
// config is pure: no sockets, no files beyond decoding what it is given. It
// is the only package that both the control plane (api, store, node) and the
// data plane (proxy, dnsmap, bgp) import, so it imports none of them; its
// one edgesim import is lpm, the leaf table package the snapshot is built
// on.
//
// Values are plain data and not safe for concurrent mutation; the API owns
// the live State and hands out copies.
package config
