package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/edgesim/edgesim/lpm"
)

// Access rule modes, as cloudflare-go v6 firewall sends them.
var AccessRuleModes = []string{"block", "challenge", "whitelist", "js_challenge", "managed_challenge"}

// Access rule scopes.
const (
	ScopeZone    = "zone"
	ScopeAccount = "account"
)

// The rules IP access rules can break.
const (
	RuleAccessRuleMode      Rule = "access_rule_mode"      // unknown mode
	RuleAccessRuleTarget    Rule = "access_rule_target"    // target not ip, ip6 or ip_range (asn and country are not simulated)
	RuleAccessRuleValue     Rule = "access_rule_value"     // value does not fit the target
	RuleAccessRuleDuplicate Rule = "access_rule_duplicate" // the scope has a rule for that value
)

// AccessRule is an IP access rule of a zone or an account.
type AccessRule struct {
	ID         string       `json:"id"`
	Scope      string       `json:"scope"`    // ScopeZone or ScopeAccount
	ScopeID    string       `json:"scope_id"` // the zone or account ID
	AccountID  string       `json:"account_id"`
	Mode       string       `json:"mode"`
	Target     string       `json:"target"` // ip, ip6, ip_range
	Value      string       `json:"value"`  // canonical
	Prefix     netip.Prefix `json:"prefix"` // the addresses the rule matches
	Notes      string       `json:"notes,omitempty"`
	CreatedOn  time.Time    `json:"created_on"`
	ModifiedOn time.Time    `json:"modified_on"`
}

// ParseAccessTarget checks mode, target and value and returns the prefix
// the rule matches and the canonical value. ip is one IPv4 address, ip6 one
// IPv6 address, ip_range an IPv4 /16 or /24 or an IPv6 /32, /48 or /64 (the
// product's ranges).
func ParseAccessTarget(mode, target, value string) (netip.Prefix, string, error) {
	if !slices.Contains(AccessRuleModes, mode) {
		return netip.Prefix{}, "", broke(RuleAccessRuleMode, "mode %q is not one of block, challenge, whitelist, js_challenge, managed_challenge", mode)
	}
	bad := broke(RuleAccessRuleValue, "value %q is not a valid %s", value, target)
	switch target {
	case "ip", "ip6":
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" || a.Is4In6() || a.Is4() != (target == "ip") {
			return netip.Prefix{}, "", bad
		}
		return netip.PrefixFrom(a, a.BitLen()), a.String(), nil
	case "ip_range":
		p, err := netip.ParsePrefix(value)
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() || p.Masked() != p {
			return netip.Prefix{}, "", bad
		}
		if ok := p.Addr().Is4() && (p.Bits() == 16 || p.Bits() == 24) || p.Addr().Is6() && (p.Bits() == 32 || p.Bits() == 48 || p.Bits() == 64); !ok {
			return netip.Prefix{}, "", broke(RuleAccessRuleValue, "ip_range %s must be an IPv4 /16 or /24, or an IPv6 /32, /48 or /64", p)
		}
		return p, p.String(), nil
	}
	return netip.Prefix{}, "", broke(RuleAccessRuleTarget, "target %q is not ip, ip6 or ip_range", target)
}

// CheckAccessRule rejects a second rule for the same value in one scope.
func CheckAccessRule(st *State, r *AccessRule) error {
	for _, o := range st.AccessRules {
		if o.ID != r.ID && o.Scope == r.Scope && o.ScopeID == r.ScopeID && o.Prefix == r.Prefix {
			return broke(RuleAccessRuleDuplicate, "a rule for %s exists in this %s (%s)", r.Value, r.Scope, o.ID)
		}
	}
	return nil
}

// AccessMatch is the access rule that applies to an address.
type AccessMatch struct {
	RuleID string
	Scope  string
	Mode   string
	Prefix netip.Prefix
}

// accessTables holds one lpm table per scope ("zone/<id>", "account/<id>").
type accessTables struct {
	tables map[string]*lpm.Table[uint32]
	rules  []AccessMatch
}

func buildAccessTables(st *State) (accessTables, error) {
	at := accessTables{tables: map[string]*lpm.Table[uint32]{}}
	byScope := map[string][]int{}
	rules := make([]*AccessRule, 0, len(st.AccessRules))
	for _, r := range st.AccessRules {
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(x, y *AccessRule) int { return cmp.Compare(x.ID, y.ID) })
	for _, r := range rules {
		key := r.Scope + "/" + r.ScopeID
		byScope[key] = append(byScope[key], len(at.rules))
		at.rules = append(at.rules, AccessMatch{RuleID: r.ID, Scope: r.Scope, Mode: r.Mode, Prefix: r.Prefix})
	}
	for key, idx := range byScope {
		t, err := lpm.Build(func(yield func(netip.Prefix, uint32) bool) {
			for _, i := range idx {
				if !yield(at.rules[i].Prefix, uint32(i)) {
					return
				}
			}
		})
		if err != nil {
			return at, fmt.Errorf("compiling access rules of %s: %w", key, err)
		}
		at.tables[key] = t
	}
	return at, nil
}

// Access returns the IP access rule for a connection from addr to a
// hostname of zone (owned by account): the most specific rule of the zone,
// else the most specific rule of the account. ok is false when none
// matches. IPv4-mapped IPv6 addresses are unmapped.
func (s *Snapshot) Access(zone, account string, addr netip.Addr) (AccessMatch, bool) {
	if s == nil {
		return AccessMatch{}, false
	}
	addr = addr.Unmap()
	for _, key := range []string{ScopeZone + "/" + zone, ScopeAccount + "/" + account} {
		if t := s.access.tables[key]; t != nil {
			if i, ok := t.Lookup(addr); ok {
				return s.access.rules[i], true
			}
		}
	}
	return AccessMatch{}, false
}
