// Package store persists edgesim's control-plane state: accounts, prefixes, bindings, apps
// and the other objects of config's model, each stored as an opaque value (a JSON blob)
// under a kind ("prefixes", "bindings", ...) and a key (a 32-hex ID).
//
// # Ownership
//
// The api package is the only writer. It keeps the whole state in memory, writes every change
// through Store.Apply before acknowledging it to the client, and loads everything back with
// Snapshot at start. The node reconciler reads the store (Snapshot, Watch) to compile data-plane
// snapshots. Data-plane packages (lpm, proxy, dnsmap, bgp) must not import store. The store
// does not interpret values: validating them is config's job.
//
// # Backends
//
//   - Bolt (OpenBolt): one bbolt file, the default for a single edge node. The file is locked
//     exclusively, so a second daemon on the same file fails fast with ErrInUse.
//   - Memory (NewMemory): for tests of other packages.
//
// Both pass the same conformance suite, store/storetest.
//
// # Concurrency
//
// Every Store method is safe for concurrent use. Applies are serialised: each sees the
// result of the previous one, and revisions are assigned in commit order. Reads run
// concurrently with each other and with an Apply, and see either all of an Apply or none of
// it. Values passed in and handed out are copies; callers may modify them freely.
//
// # Durability contract
//
// When Apply returns nil the change is on stable storage: the bbolt transaction was committed
// with fsync (bbolt NoSync is never set). A write that was acknowledged survives kill -9 of the
// daemon (tested by TestKill9Durability) and, to the extent the disk honours fsync, power
// loss. A write that was not acknowledged may or may not be present after a crash, but
// always entirely or not at all. A new state file is created under a temporary name and
// linked into place, so a crash during first start never leaves a half-initialised file.
//
// # An etcd backend (planned)
//
// The interface is shaped so that several edge nodes can share one state through etcd:
//
//   - objects live under <prefix>/<kind>/<key>; kinds and keys may not contain '/' or NUL,
//     so the mapping is unambiguous and List is a range read of <prefix>/<kind>/;
//   - Apply is one etcd Txn whose Then branch holds the Puts and Deletes plus a Put of
//     <prefix>/meta/rev, so every Apply creates exactly one etcd revision; Rev is that
//     revision (taken from the response header), which is why Rev values are only promised to
//     be strictly increasing, not consecutive;
//   - MaxOps (128) and MaxValueSize stay within etcd's default limits (--max-txn-ops 128,
//     1.5 MiB requests), and all backends enforce them, so behaviour does not change with
//     the backend;
//   - Snapshot is one range Get of <prefix>/ (a single etcd revision, hence consistent) and
//     Watch is clientv3.Watch on <prefix>/ from Snapshot's revision + 1, which also reports
//     changes made by other nodes (the Bolt backend's Watch only sees its own process);
//   - conditional writes (compare-and-swap between nodes) would be an optional field on Op,
//     mapped to a Compare on ModRevision; Bolt and Memory would then store a per-key mod
//     revision next to each value. Not needed while one api process owns the writes.
package store
