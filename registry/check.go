package registry

import (
	"net/netip"
)

// vrpIndex maps a VRP prefix to the VRPs with exactly that prefix, so the
// VRPs covering p are found with at most p.Bits()+1 lookups.
type vrpIndex map[netip.Prefix][]VRP

func (idx vrpIndex) add(v VRP) { idx[v.Prefix] = append(idx[v.Prefix], v) }

// covering calls fn for every VRP whose prefix contains p (same family).
func (idx vrpIndex) covering(p netip.Prefix, fn func(VRP)) {
	if len(idx) == 0 {
		return
	}
	for bits := p.Bits(); bits >= 0; bits-- {
		q, err := p.Addr().Prefix(bits)
		if err != nil {
			continue
		}
		for _, v := range idx[q] {
			fn(v)
		}
	}
}

// rpkiState applies the RPKI rule to the union of the given indexes:
// a covering VRP for asn with a long enough maxLength is valid; a covering
// VRP for asn with too short a maxLength, or for AS0, is invalid; covering
// VRPs only for other ASNs are mismatch_asn; none is missing.
func rpkiState(p netip.Prefix, asn uint32, idxs ...vrpIndex) State {
	var valid, invalid, other bool
	for _, idx := range idxs {
		idx.covering(p, func(v VRP) {
			switch {
			case v.ASN == 0:
				invalid = true
			case v.ASN != asn:
				other = true
			case p.Bits() <= int(v.MaxLen):
				valid = true
			default:
				invalid = true
			}
		})
	}
	switch {
	case valid:
		return StateValid
	case invalid:
		return StateInvalid
	case other:
		return StateMismatchASN
	}
	return StateMissing
}

// irrState applies the IRR rule to the route objects for exactly p:
// one well-formed object with origin asn is valid; otherwise a malformed
// one is invalid; otherwise objects for other origins are mismatch_asn;
// none is missing.
func irrState(routes []route, asn uint32) State {
	if len(routes) == 0 {
		return StateMissing
	}
	var malformed bool
	for _, r := range routes {
		if r.err != nil {
			malformed = true
			continue
		}
		if r.origin == asn {
			return StateValid
		}
	}
	if malformed {
		return StateInvalid
	}
	return StateMismatchASN
}

// irrOwnership looks for the token in the route objects for exactly p. It
// reports whether the token was found, and whether any cf-validation token
// (right or wrong) was present.
func irrOwnership(routes []route, token string) (found, present bool) {
	for _, r := range routes {
		for _, t := range r.tokens {
			present = true
			if t == token {
				return true, true
			}
		}
	}
	return false, present
}
