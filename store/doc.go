// Package store persists edgesim's control-plane state: accounts, prefixes, bindings, apps
// and the other objects of config's model, each stored as an opaque value (a JSON blob)
// under a kind ("prefixes", "bindings", ...) and a key (a 32-hex ID).
//
// # Ownership
//
// The api package is the only writer. It keeps the whole state in memory, writes every change
// through Store.ApplyIf (conditional on the revision its memory was read or last written at)
// before acknowledging it to the client, loads everything with Snapshot at start and again
// whenever Watch reports a revision it did not write itself. The node reconciler reads the store (Snapshot, Watch) to compile data-plane
// snapshots. Data-plane packages (lpm, proxy, dnsmap, bgp) must not import store. The store
// does not interpret values: validating them is config's job.
//
// # Backends
//
//   - Bolt (OpenBolt): one bbolt file, the default for a single edge node. The file is locked
//     exclusively, so a second daemon on the same file fails fast with ErrInUse.
//   - Etcd (OpenEtcd): the state under a key prefix in etcd, for several edge nodes that
//     share one state, like the PoPs of one network. Each sees the others' writes (Watch).
//   - Memory (NewMemory): for tests of other packages.
//
// All three pass the same conformance suite, store/storetest (Etcd against a real etcd
// server).
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
// with fsync (bbolt NoSync is never set), or the etcd transaction was committed by the
// cluster (in the WAL of a quorum of members, fsynced). A write that was acknowledged survives kill -9 of the
// daemon (tested by TestKill9Durability) and, to the extent the disk honours fsync, power
// loss. A write that was not acknowledged may or may not be present after a crash, but
// always entirely or not at all. A new state file is created under a temporary name and
// linked into place, so a crash during first start never leaves a half-initialised file.
//
// # The etcd backend
//
// Under a prefix P (default "/edgesim/"):
//
//   - objects live under P<kind>/<key>; kinds and keys may not contain '/' or NUL, so the
//     mapping is unambiguous and List is a range read of P<kind>/;
//   - Apply is one etcd Txn whose Then branch holds the puts and deletes (the last op per
//     key) plus a put of the revision marker P"revision", so every Apply creates exactly one
//     etcd revision; Rev is the marker's ModRevision, which is why Rev values are only
//     promised to be strictly increasing, not consecutive, and why MaxOps is one below etcd's
//     --max-txn-ops default of 128;
//   - Snapshot is a range read of P at one etcd revision (paged, every page at the revision of
//     the first), hence consistent, and its Rev is the marker's ModRevision in that read;
//   - Watch is fed by one etcd watch per Etcd on the marker key, started at the revision
//     OpenEtcd read and resumed by the client after a broken stream from the last revision it
//     delivered, so no Apply (by any node) after Open is missed; if that revision was
//     compacted meanwhile, the current revision is re-read and notified;
//   - Apply's transaction is unconditional; ApplyIf(rev) adds one Compare, the marker's
//     ModRevision equal to rev (etcd compares a missing key's as 0, which is Rev 0), so the
//     check and the write are one step in etcd whichever node wrote last. The condition is on
//     the whole store (one revision), not per key: any write by anyone in between fails it.
//     Bolt compares the stored revision inside its write transaction, Memory under its lock.
package store
