package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
	"unicode/utf8"
)

// Rule names one documented (or edgesim-chosen) rule of the addressing API.
// The api package maps each Rule to an HTTP status and a stable error code;
// config knows nothing about HTTP.
type Rule string

// The rules a change to a State can break.
const (
	RuleCIDRInvalid              Rule = "cidr_invalid"               // not an IP prefix
	RuleCIDRNotCanonical         Rule = "cidr_not_canonical"         // host bits set
	RuleCIDRTooSpecific          Rule = "cidr_too_specific"          // longer than /24 (IPv4) or /48 (IPv6)
	RuleASNInvalid               Rule = "asn_invalid"                // outside 1..4294967295
	RuleDescriptionTooLong       Rule = "description_too_long"       // more than MaxDescriptionLen characters
	RulePrefixOverlapsForeign    Rule = "prefix_overlaps_foreign"    // overlaps another account's prefix
	RulePrefixOverlapsOwn        Rule = "prefix_overlaps_own"        // duplicates or overlaps the account's own prefix
	RulePrefixApproved           Rule = "prefix_approved"            // only unapproved prefixes can be deleted
	RulePrefixNotApproved        Rule = "prefix_not_approved"        // the change needs an approved prefix
	RuleDelegationOutside        Rule = "delegation_outside"         // delegated CIDR not inside the prefix
	RuleDelegationToOwner        Rule = "delegation_to_owner"        // delegated to the prefix's own account
	RuleDelegationUnknownAccount Rule = "delegation_unknown_account" // delegated to an account that does not exist
	RuleDelegationOverlap        Rule = "delegation_overlap"         // overlaps another delegation
	RuleBindingFirstNotPrefix    Rule = "binding_first_not_prefix"   // the first binding must equal the prefix
	RuleBindingOutside           Rule = "binding_outside"            // later bindings must be strictly inside the prefix
	RuleMagicTransitNotDefault   Rule = "magic_transit_not_default"  // Magic Transit only as the default binding
	RuleBindingDuplicate         Rule = "binding_duplicate"          // a binding for this CIDR exists
	RuleUnknownService           Rule = "unknown_service"            // no such service ID
	RuleDefaultBindingInUse      Rule = "default_binding_in_use"     // more-specific bindings still exist
	RuleDefaultBindingAdvertised Rule = "default_binding_advertised" // a BGP prefix is advertised (or still withdrawing)
	RuleBGPPrefixOutside         Rule = "bgp_prefix_outside"         // BGP prefix not inside the prefix
	RuleBGPPrefixDuplicate       Rule = "bgp_prefix_duplicate"       // a BGP prefix for this CIDR exists
	RuleAdvertiseNoDefault       Rule = "advertise_no_default"       // advertising needs the default binding
	RuleOnDemandLocked           Rule = "on_demand_locked"           // advertisement locked by the operator
	RuleBGPNotReady              Rule = "bgp_not_ready"              // before ReadyAt
	RuleToggleTooSoon            Rule = "toggle_too_soon"            // within MinToggleInterval of the last change
	RuleASNPrependRange          Rule = "asn_prepend_range"          // asn_prepend_count outside 0..3
	RuleNoBGPPrefix              Rule = "no_bgp_prefix"              // the prefix has no BGP prefix of its own CIDR yet
)

// Limits of the addressing API.
const (
	MaxDescriptionLen = 1000 // characters in a prefix description
	MaxPrefixLen4     = 24   // longest IPv4 prefix (and BGP prefix) accepted
	MaxPrefixLen6     = 48   // longest IPv6 prefix (and BGP prefix) accepted
	MaxASNPrepend     = 3    // largest asn_prepend_count
)

// RuleError is a change that breaks a Rule. Msg is lowercase and safe to show
// to API clients.
type RuleError struct {
	Rule Rule
	Msg  string
}

func (e *RuleError) Error() string { return e.Msg }

func broke(r Rule, format string, args ...any) error {
	return &RuleError{Rule: r, Msg: fmt.Sprintf(format, args...)}
}

// RuleOf returns the Rule err breaks, if err wraps a *RuleError.
func RuleOf(err error) (Rule, bool) {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Rule, true
	}
	return "", false
}

// ParseCIDR parses s as a canonical IP prefix: no host bits set, no zone, no
// IPv4-mapped IPv6 address. Any prefix length is accepted; see
// CheckPrefixLen for the onboarding limit.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() {
		return netip.Prefix{}, broke(RuleCIDRInvalid, "cidr %q is not a valid IP prefix", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, broke(RuleCIDRNotCanonical, "cidr %q has host bits set; expected %s", s, p.Masked())
	}
	return p, nil
}

// MaxPrefixLen returns the longest prefix length accepted for an address
// family: /24 for IPv4, /48 for IPv6.
func MaxPrefixLen(a netip.Addr) int {
	if a.Is4() {
		return MaxPrefixLen4
	}
	return MaxPrefixLen6
}

// CheckPrefixLen rejects prefixes longer than /24 (IPv4) or /48 (IPv6), the
// limit for IP prefixes and BGP prefixes.
func CheckPrefixLen(p netip.Prefix) error {
	if limit := MaxPrefixLen(p.Addr()); p.Bits() > limit {
		return broke(RuleCIDRTooSpecific, "cidr %s is longer than /%d, the longest prefix accepted", p, limit)
	}
	return nil
}

// ParsePrefixCIDR is ParseCIDR followed by CheckPrefixLen: the parser for IP
// prefixes and BGP prefixes.
func ParsePrefixCIDR(s string) (netip.Prefix, error) {
	p, err := ParseCIDR(s)
	if err != nil {
		return p, err
	}
	if err := CheckPrefixLen(p); err != nil {
		return netip.Prefix{}, err
	}
	return p, nil
}

// CheckASN rejects AS numbers outside 1..4294967295.
func CheckASN(asn int64) error {
	if asn < 1 || asn > 1<<32-1 {
		return broke(RuleASNInvalid, "asn %d is outside 1..4294967295", asn)
	}
	return nil
}

// CheckDescription rejects descriptions longer than MaxDescriptionLen characters.
func CheckDescription(s string) error {
	if n := utf8.RuneCountInString(s); n > MaxDescriptionLen {
		return broke(RuleDescriptionTooLong, "description has %d characters, more than %d", n, MaxDescriptionLen)
	}
	return nil
}

// contains reports whether outer covers inner entirely (same family).
func contains(outer, inner netip.Prefix) bool {
	return outer.Addr().BitLen() == inner.Addr().BitLen() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// CheckNewPrefix checks a prefix about to be added to st: length, ASN,
// description, and no overlap with any existing prefix.
func CheckNewPrefix(st *State, p *Prefix) error {
	if err := CheckPrefixLen(p.CIDR); err != nil {
		return err
	}
	if err := CheckASN(int64(p.ASN)); err != nil {
		return err
	}
	if err := CheckDescription(p.Description); err != nil {
		return err
	}
	for _, o := range st.Prefixes {
		if o.ID == p.ID || !o.CIDR.Overlaps(p.CIDR) {
			continue
		}
		if o.AccountID != p.AccountID {
			return broke(RulePrefixOverlapsForeign, "cidr %s overlaps a prefix of another account", p.CIDR)
		}
		return broke(RulePrefixOverlapsOwn, "cidr %s overlaps the account's prefix %s", p.CIDR, o.CIDR)
	}
	return nil
}

// CheckDeletePrefix allows deleting only unapproved prefixes. An unapproved
// prefix has no delegations, bindings or BGP prefixes (they all need
// approval), so nothing cascades.
func CheckDeletePrefix(p *Prefix) error {
	if p.Approved {
		return broke(RulePrefixApproved, "prefix %s is approved; only unapproved prefixes can be deleted", p.CIDR)
	}
	return nil
}

func checkApproved(p *Prefix, what string) error {
	if !p.Approved {
		return broke(RulePrefixNotApproved, "prefix %s is not approved yet; %s needs an approved prefix (validate it first)", p.CIDR, what)
	}
	return nil
}

// CheckNewDelegation checks a delegation about to be added under parent:
// the parent is approved, the CIDR lies inside it, the delegated account
// exists (accountExists) and is not the owner, and no other delegation of
// the parent overlaps it.
func CheckNewDelegation(st *State, parent *Prefix, d *Delegation, accountExists func(string) bool) error {
	if err := checkApproved(parent, "a delegation"); err != nil {
		return err
	}
	if !contains(parent.CIDR, d.CIDR) {
		return broke(RuleDelegationOutside, "cidr %s is not inside the prefix %s", d.CIDR, parent.CIDR)
	}
	if d.DelegatedAccountID == parent.AccountID {
		return broke(RuleDelegationToOwner, "cannot delegate to the prefix's own account")
	}
	if !accountExists(d.DelegatedAccountID) {
		return broke(RuleDelegationUnknownAccount, "delegated account %q does not exist", d.DelegatedAccountID)
	}
	for _, o := range st.Delegations {
		if o.ID != d.ID && o.PrefixID == parent.ID && o.CIDR.Overlaps(d.CIDR) {
			return broke(RuleDelegationOverlap, "cidr %s overlaps the delegation %s", d.CIDR, o.CIDR)
		}
	}
	return nil
}

// PrefixBindings returns the bindings of prefix id.
func (st *State) PrefixBindings(id string) []*Binding {
	var out []*Binding
	for _, b := range st.Bindings {
		if b.PrefixID == id {
			out = append(out, b)
		}
	}
	return out
}

// PrefixBGPPrefixes returns the BGP prefixes of prefix id.
func (st *State) PrefixBGPPrefixes(id string) []*BGPPrefix {
	var out []*BGPPrefix
	for _, b := range st.BGPPrefixes {
		if b.PrefixID == id {
			out = append(out, b)
		}
	}
	return out
}

// DefaultBinding returns the binding that spans the whole prefix, if any.
func (st *State) DefaultBinding(p *Prefix) (*Binding, bool) {
	for _, b := range st.Bindings {
		if b.PrefixID == p.ID && b.CIDR == p.CIDR {
			return b, true
		}
	}
	return nil, false
}

// WholeBGPPrefix returns the BGP prefix whose CIDR equals the prefix's (the
// one the default binding creates), if any.
func (st *State) WholeBGPPrefix(p *Prefix) (*BGPPrefix, bool) {
	for _, b := range st.BGPPrefixes {
		if b.PrefixID == p.ID && b.CIDR == p.CIDR {
			return b, true
		}
	}
	return nil, false
}

// CheckNewBinding checks a binding about to be added under p: p is approved,
// the service exists, the first binding equals the prefix, later ones are
// strictly more specific and inside it, Magic Transit only as the default,
// and no binding of the same CIDR exists.
func CheckNewBinding(st *State, p *Prefix, b *Binding) error {
	if err := checkApproved(p, "a service binding"); err != nil {
		return err
	}
	svc, ok := ServiceByID(b.ServiceID)
	if !ok {
		return broke(RuleUnknownService, "service %q does not exist", b.ServiceID)
	}
	_, hasDefault := st.DefaultBinding(p)
	switch {
	case !hasDefault && b.CIDR != p.CIDR:
		return broke(RuleBindingFirstNotPrefix, "the first service binding must span the whole prefix %s, not %s", p.CIDR, b.CIDR)
	case hasDefault && b.CIDR == p.CIDR:
		return broke(RuleBindingDuplicate, "a service binding for %s exists", b.CIDR)
	case hasDefault && !contains(p.CIDR, b.CIDR):
		return broke(RuleBindingOutside, "cidr %s is not inside the prefix %s", b.CIDR, p.CIDR)
	case hasDefault && svc.Name == ServiceMagicTransit:
		return broke(RuleMagicTransitNotDefault, "magic transit can only be the default binding spanning the whole prefix")
	}
	for _, o := range st.Bindings {
		if o.ID != b.ID && o.PrefixID == p.ID && o.CIDR == b.CIDR {
			return broke(RuleBindingDuplicate, "a service binding for %s exists", b.CIDR)
		}
	}
	return nil
}

// CheckDeleteBinding checks removing binding b of prefix p at time now. The
// default binding cannot go while more-specific bindings exist, nor while
// any BGP prefix of p is advertised or its withdrawal has not propagated.
func CheckDeleteBinding(st *State, p *Prefix, b *Binding, now time.Time) error {
	if b.CIDR != p.CIDR {
		return nil
	}
	for _, o := range st.PrefixBindings(p.ID) {
		if o.ID != b.ID {
			return broke(RuleDefaultBindingInUse, "delete the more-specific service bindings (e.g. %s) before the default binding", o.CIDR)
		}
	}
	for _, bp := range st.PrefixBGPPrefixes(p.ID) {
		if bp.Advertised || bp.Announced(now) {
			return broke(RuleDefaultBindingAdvertised, "bgp prefix %s is advertised; withdraw it before deleting the default binding", bp.CIDR)
		}
	}
	return nil
}

// CheckNewBGPPrefix checks a BGP prefix about to be added under p: p is
// approved, the CIDR is inside p and no longer than /24 (/48), and not a
// duplicate.
func CheckNewBGPPrefix(st *State, p *Prefix, bp *BGPPrefix) error {
	if err := checkApproved(p, "a bgp prefix"); err != nil {
		return err
	}
	if err := CheckPrefixLen(bp.CIDR); err != nil {
		return err
	}
	if !contains(p.CIDR, bp.CIDR) {
		return broke(RuleBGPPrefixOutside, "cidr %s is not inside the prefix %s", bp.CIDR, p.CIDR)
	}
	for _, o := range st.BGPPrefixes {
		if o.ID != bp.ID && o.PrefixID == p.ID && o.CIDR == bp.CIDR {
			return broke(RuleBGPPrefixDuplicate, "a bgp prefix for %s exists", bp.CIDR)
		}
	}
	return nil
}

// CheckASNPrepend rejects asn_prepend_count outside 0..3.
func CheckASNPrepend(n int64) error {
	if n < 0 || n > MaxASNPrepend {
		return broke(RuleASNPrependRange, "asn_prepend_count %d is outside 0..%d", n, MaxASNPrepend)
	}
	return nil
}

// CheckToggle checks changing bp's advertisement to advertised at time now.
// A request that does not change the state is not a toggle and always
// passes. Advertising needs an approved prefix with a default binding and
// must wait for ReadyAt; both directions honour the lock and the minimum
// interval between toggles.
func CheckToggle(st *State, p *Prefix, bp *BGPPrefix, advertised bool, now time.Time, d Delays) error {
	if advertised == bp.Advertised {
		return nil
	}
	if bp.OnDemandLocked || p.OnDemandLocked {
		return broke(RuleOnDemandLocked, "the advertisement of bgp prefix %s is locked", bp.CIDR)
	}
	if advertised {
		if err := checkApproved(p, "advertising"); err != nil {
			return err
		}
		if _, ok := st.DefaultBinding(p); !ok {
			return broke(RuleAdvertiseNoDefault, "prefix %s has no default service binding; create it before advertising", p.CIDR)
		}
		if now.Before(bp.ReadyAt) {
			return broke(RuleBGPNotReady, "bgp prefix %s cannot be advertised before %s", bp.CIDR, bp.ReadyAt.Format(time.RFC3339))
		}
	}
	if d.MinToggleInterval > 0 && !bp.AdvertisedModifiedAt.IsZero() {
		if next := bp.AdvertisedModifiedAt.Add(d.MinToggleInterval); now.Before(next) {
			return broke(RuleToggleTooSoon, "the advertisement of bgp prefix %s changed less than %s ago; retry after %s", bp.CIDR, d.MinToggleInterval, next.Format(time.RFC3339))
		}
	}
	return nil
}

// Check verifies the invariants of a whole State (for example one loaded
// from the store) and reports every problem at once: keys match IDs, every
// object points to an existing prefix of the same account and lies inside
// it, and approved prefixes passed every check.
func (st *State) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for id, p := range st.Prefixes {
		if p.ID != id || !IsID(id) {
			bad("prefix %q: id %q does not match its key", id, p.ID)
		}
		if !p.CIDR.IsValid() || p.CIDR.Masked() != p.CIDR {
			bad("prefix %q: invalid cidr %s", id, p.CIDR)
		}
		if p.Approved && !p.Validation.AllValid() {
			bad("prefix %q: approved without passing every check", id)
		}
	}
	child := func(kind, id, gotID, prefixID, accountID string, cidr netip.Prefix) {
		if gotID != id || !IsID(id) {
			bad("%s %q: id %q does not match its key", kind, id, gotID)
		}
		p, ok := st.Prefixes[prefixID]
		switch {
		case !ok:
			bad("%s %q: unknown prefix %q", kind, id, prefixID)
		case p.AccountID != accountID:
			bad("%s %q: account %q is not the prefix's account %q", kind, id, accountID, p.AccountID)
		case !cidr.IsValid() || !contains(p.CIDR, cidr):
			bad("%s %q: cidr %s is not inside the prefix %s", kind, id, cidr, p.CIDR)
		}
	}
	for id, d := range st.Delegations {
		child("delegation", id, d.ID, d.PrefixID, d.AccountID, d.CIDR)
	}
	for id, b := range st.Bindings {
		child("binding", id, b.ID, b.PrefixID, b.AccountID, b.CIDR)
		if _, ok := ServiceByID(b.ServiceID); !ok {
			bad("binding %q: unknown service %q", id, b.ServiceID)
		}
	}
	for id, b := range st.BGPPrefixes {
		child("bgp prefix", id, b.ID, b.PrefixID, b.AccountID, b.CIDR)
	}
	for id, a := range st.SpectrumApps {
		if a.ID != id || !IsID(id) {
			bad("spectrum app %q: id %q does not match its key", id, a.ID)
		}
		if !IsID(a.ZoneID) || !IsID(a.AccountID) {
			bad("spectrum app %q: invalid zone %q or account %q", id, a.ZoneID, a.AccountID)
		}
		if err := CheckSpectrumFields(a.Clone()); err != nil {
			bad("spectrum app %q: %w", id, err)
		}
		if a.EdgeIPs.Type == EdgeIPsDynamic && len(a.EdgeIPs.IPs) == 0 {
			bad("spectrum app %q: dynamic app without allocated edge ips", id)
		}
	}
	for id, z := range st.Zones {
		if z.ID != id || !IsID(id) || !IsID(z.AccountID) || !validHostname(z.Name) {
			bad("zone %q: invalid id, account or name (%q, %q, %q)", id, z.ID, z.AccountID, z.Name)
		}
		if ns, err := CheckVanityNameServers(z.VanityNameServers); err != nil || !slices.Equal(ns, z.VanityNameServers) {
			bad("zone %q: invalid vanity name servers %q", id, z.VanityNameServers)
		}
	}
	for id, r := range st.DNSRecords {
		if r.ID != id || !IsID(id) || !IsID(r.ZoneID) {
			bad("dns record %q: invalid id %q or zone %q", id, r.ID, r.ZoneID)
		}
		if err := CheckDNSRecordFields(&DNSRecord{Type: r.Type, Name: r.Name, Content: r.Content, TTL: r.TTL, Proxied: r.Proxied, Comment: r.Comment}); err != nil {
			bad("dns record %q: %w", id, err)
		}
	}
	for id, m := range st.AddressMaps {
		if m.ID != id || !IsID(id) || !IsID(m.AccountID) {
			bad("address map %q: invalid id %q or account %q", id, m.ID, m.AccountID)
		}
		for _, ip := range m.IPs {
			if !ip.IP.IsValid() {
				bad("address map %q: invalid ip", id)
			}
		}
	}
	for id, r := range st.AccessRules {
		if r.ID != id || !IsID(id) || (r.Scope != ScopeZone && r.Scope != ScopeAccount) {
			bad("access rule %q: invalid id %q or scope %q", id, r.ID, r.Scope)
		}
		if p, _, err := ParseAccessTarget(r.Mode, r.Target, r.Value); err != nil || p != r.Prefix {
			bad("access rule %q: invalid mode, target or value (%v)", id, err)
		}
	}
	for id, d := range st.LOADocuments {
		if d.ID != id || !IsID(id) || CheckLOA(d.Content) != nil || d.SizeBytes != int64(len(d.Content)) {
			bad("loa document %q: invalid id %q, content or size", id, d.ID)
		}
	}
	return errors.Join(errs...)
}
