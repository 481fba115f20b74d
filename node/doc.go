// Package node owns a running edge: it opens the state store, starts the
// validation sources and the API, serves until its context ends, and shuts
// everything down in order (stop accepting, drain in-flight requests, close
// the validation sources, close the store).
//
// Later it also compiles the control-plane state into snapshots and starts
// the data-plane servers (BGP, proxy, DNS) and the AnyIP local routes; it
// is the only writer of the published snapshot.
//
// node is control plane: it may import api, store and registry; data-plane
// packages must never import node.
package node
