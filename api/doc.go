// Package api serves edgesim's Cloudflare-compatible addressing API (BYOIP
// prefixes, validation, delegations, services, service bindings, BGP
// prefixes, the deprecated prefix-level bgp/status, address maps), Spectrum
// apps, zones, DNS records and IP access rules under /client/v4/ and,
// identically, at /, plus a lab-only admin API under /admin/v1/ (clock
// fast-forward, on-demand lock, state dump, DNS answer set, injected
// faults). An optional per-credential rate limit (config.RateLimit) answers
// 429 like Cloudflare's global API limit.
//
// # Ownership
//
// A Server owns the control-plane state (a *config.State) in memory. It
// loads it from a store.Store in New and reloads it when others write to
// the store (the Servers of several nodes may share one etcd state). Servers
// are the only writers of the kinds "prefixes", "delegations", "bindings",
// "bgp_prefixes", "spectrum_apps", "zones" (API-created zones; config zones
// are not stored), "dns_records", "address_maps", "access_rules",
// "loa_documents" and "meta" (the clock offset). Every mutation
// works on copies of the objects it changes, checks the rules in
// config/rules.go, persists every changed object in one atomic
// store.ApplyIf at the revision its memory was read or last written at, and
// only then installs the copies in memory and answers. A failed Apply
// answers 500 and leaves memory unchanged, so memory always equals the
// store at a known revision and a new Server on the same store gives the
// same answers. When the store has moved (store.ErrConflict), the Server
// reloads and runs the request again against the reloaded state.
//
// The wire contract (envelope, status codes, x-should-retry, IDs, times)
// follows what cloudflare-go v6 expects; see README.md for the error codes,
// which are defined once in codes.go and never reused.
//
// # Concurrency
//
// A Server is safe for concurrent use. One RWMutex guards the state:
// handlers that write hold it for the whole check-persist-install sequence,
// readers take it shared. Objects in the state are never mutated in place;
// State returns a deep copy. One worker goroutine runs prefix validations:
// it sleeps on the clock until the earliest ValidationDueAt (woken by
// clock.FastForward and by new validate requests), calls the Validator
// without holding the lock, and stores the result. A second goroutine
// follows store.Watch and swaps in a reloaded state (under the lock) when
// the revision moves past the Server's own. Close stops both.
//
// # Imports
//
// api is control plane: it imports config, store and internal/clock, never
// a data-plane package (lpm, proxy, dnsmap, bgp); deps_test.go enforces it.
package api
