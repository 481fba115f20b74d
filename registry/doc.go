// Package registry validates BYOIP prefixes against the sources a lab
// really has: IRR data (RPSL files), RPKI data (a VRP JSON file and/or an
// RFC 8210 RTR cache such as stayrtr) and reverse DNS. It produces the three
// states Cloudflare's addressing API reports for a prefix:
// irr_validation_state, rpki_validation_state and
// ownership_validation_state.
//
// Typical usage:
//
//	v, err := registry.New(ctx, registry.Options{
//		IRRFiles:  []string{"/var/lib/edgesim/irr.db"},
//		ROAFile:   "/var/lib/edgesim/vrps.json",
//		RTRAddr:   "127.0.0.1:8282",
//		DNSServer: "127.0.0.1:53",
//	})
//	...
//	defer v.Close()
//	res, err := v.Validate(ctx, prefix, 13335, token) // res.IRR, res.RPKI, res.Ownership
//
// # What it owns
//
// Parsing of RPSL (ParseRPSL), VRP JSON (ParseROAJSON) and RTR PDUs
// (ParsePDU, AppendPDU); the RTR client; the reverse-zone split rule
// (ReverseZones); and the rules below. It does not own prefixes, tokens or
// the stored states: the API calls Validate and stores the Result.
//
// # Semantics
//
// Validate never returns StatePending: pending is what the API shows before
// validation ran. When a configured source cannot be used (a file fails to
// load, the RTR cache has not synced or its data expired, a DNS query
// fails or times out) Validate returns an error and no states, so the API
// can keep the prefix pending. A check whose sources are not configured
// reports missing.
//
// IRR: only route (IPv4) and route6 (IPv6) objects whose key is exactly the
// prefix count; covering or more-specific objects do not. No object is
// missing; a well-formed object with origin AS<asn> is valid (and wins over
// any others); otherwise any malformed object for the prefix (syntax error,
// missing, repeated or unparsable origin, wrong family for the class, host
// bits set) is invalid; otherwise, objects only for other origins are
// mismatch_asn.
//
// RPKI: the union of the ROA file's and the RTR cache's VRPs. A VRP covers
// the prefix when its prefix, of the same family, contains it. A covering
// VRP for asn with maxLength >= the prefix length is valid; else a covering
// VRP for asn whose maxLength is too short, or a covering AS0 VRP, is
// invalid; else covering VRPs only for other ASNs are mismatch_asn; else
// missing.
//
// Ownership: an empty token is invalid. "cf-validation: <token>" in a descr
// or remarks attribute of any route/route6 object for exactly the prefix is
// valid. Otherwise TXT cf-validation.<zone> is queried for every zone of
// ReverseZones(prefix) at DNSServer: every zone holding the token (as the
// whole TXT string, or as "cf-validation=<token>") is valid, no TXT record
// in any zone is missing, anything in between (a zone without records, a
// wrong token) is invalid. A wrong cf-validation token in the IRR turns
// missing into invalid.
//
// Files are re-read when Reload is called, and by Validate itself when a
// file's size or modification time changed (one stat per file per call).
// A failed re-read keeps the previous data; Validate then returns the
// error.
//
// The RTR client speaks version 1 and falls back to version 0 when the
// cache sends an Error Report "Unsupported Protocol Version", or answers
// with version 0. It sends a Reset Query on every connection, a Serial
// Query on Serial Notify or after the refresh interval, honours Cache
// Reset, and reconnects with jittered exponential backoff (100ms to 30s).
// The VRP set of the last End of Data stays in use across reconnects until
// the cache's expire interval passes. Validate waits up to Timeout (or
// ctx) for the first End of Data.
//
// # Concurrency
//
// A Validator is safe for concurrent use. File data and the RTR VRP set are
// immutable snapshots behind atomic pointers; reloads are serialised by a
// mutex; one goroutine owns the RTR connection. The parsers are pure, never
// panic on any input, and are fuzzed.
//
// # Dependencies
//
// registry must not import edgesim's api, store or node packages (see
// deps_test.go); it uses the standard library and github.com/miekg/dns.
package registry
