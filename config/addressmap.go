package config

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Membership kinds of an address map.
const (
	MemberZone    = "zone"
	MemberAccount = "account"
)

// The rules address maps can break.
const (
	RuleAddressMapIP         Rule = "address_map_ip"           // not an IP address
	RuleAddressMapIPNotOwned Rule = "address_map_ip_not_owned" // IP not in a prefix owned by or delegated to the account
	RuleAddressMapManaged    Rule = "address_map_managed"      // the map cannot be deleted, or its IPs changed
	RuleAddressMapEnabled    Rule = "address_map_enabled"      // an enabled map cannot be deleted
	RuleAddressMapMembership Rule = "address_map_membership"   // bad kind, or a zone/account outside the map's account
	RuleAddressMapSNI        Rule = "address_map_default_sni"  // default_sni is not a DNS name
)

// AddressMapIP is one IP of a map.
type AddressMapIP struct {
	IP        netip.Addr `json:"ip"`
	CreatedAt time.Time  `json:"created_at"`
}

// Membership attaches a zone or an account to a map.
type Membership struct {
	Kind       string    `json:"kind"`
	Identifier string    `json:"identifier"`
	CanDelete  bool      `json:"can_delete"`
	CreatedAt  time.Time `json:"created_at"`
}

// AddressMap decides which IPs DNS answers for proxied hostnames of its
// member zones and accounts, once enabled. A zone membership beats an
// account membership.
type AddressMap struct {
	ID           string         `json:"id"`
	AccountID    string         `json:"account_id"`
	Description  string         `json:"description,omitempty"`
	DefaultSNI   string         `json:"default_sni,omitempty"`
	Enabled      bool           `json:"enabled"`
	CanDelete    bool           `json:"can_delete"`
	CanModifyIPs bool           `json:"can_modify_ips"`
	IPs          []AddressMapIP `json:"ips,omitempty"`
	Memberships  []Membership   `json:"memberships,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

// Clone returns a deep copy of m.
func (m *AddressMap) Clone() *AddressMap {
	c := *m
	c.IPs = slices.Clone(m.IPs)
	c.Memberships = slices.Clone(m.Memberships)
	return &c
}

// Addrs returns the map's IPs.
func (m *AddressMap) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(m.IPs))
	for _, ip := range m.IPs {
		out = append(out, ip.IP)
	}
	return out
}

// HasMember reports whether m has a membership of kind for id.
func (m *AddressMap) HasMember(kind, id string) bool {
	return slices.ContainsFunc(m.Memberships, func(x Membership) bool { return x.Kind == kind && x.Identifier == id })
}

// ManagedMapID is the stable ID of an account's BYOIP-only map.
func ManagedMapID(account string) string {
	h := sha256.Sum256([]byte("edgesim byoip-only address map " + account))
	return hex.EncodeToString(h[:16])
}

// ManagedAddressMaps returns the immutable account-wide maps seeded by
// accounts[].byoip_only_map: enabled, an account membership, can_delete
// and can_modify_ips false. They are not part of the State.
func (d *Daemon) ManagedAddressMaps() []*AddressMap {
	var out []*AddressMap
	for _, a := range d.Accounts {
		if len(a.BYOIPOnlyMap) == 0 {
			continue
		}
		m := &AddressMap{
			ID: ManagedMapID(a.ID), AccountID: a.ID, Description: "account-wide map (BYOIP only)", Enabled: true,
			Memberships: []Membership{{Kind: MemberAccount, Identifier: a.ID}},
		}
		for _, s := range a.BYOIPOnlyMap {
			if ip, err := netip.ParseAddr(s); err == nil {
				m.IPs = append(m.IPs, AddressMapIP{IP: ip})
			}
		}
		out = append(out, m)
	}
	return out
}

// ParseMapIP parses an IP of an address map (from a body or a path).
func ParseMapIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.Is4In6() {
		return netip.Addr{}, broke(RuleAddressMapIP, "%q is not an IP address", s)
	}
	return ip, nil
}

// CheckMapIP checks that ip may be added to m: the map allows IP changes
// and the IP lies in a prefix owned by or delegated to m's account.
func CheckMapIP(st *State, m *AddressMap, ip netip.Addr) error {
	if !m.CanModifyIPs {
		return broke(RuleAddressMapManaged, "the ips of address map %s cannot be changed", m.ID)
	}
	if !st.AccountOwns(m.AccountID, ip) {
		return broke(RuleAddressMapIPNotOwned, "ip %s is not in a prefix owned by or delegated to the account", ip)
	}
	return nil
}

// CheckMembership checks a membership: kind zone (a zone of the map's
// account: zoneAccount returns a zone's account) or account (the map's own
// account).
func CheckMembership(m *AddressMap, kind, id string, zoneAccount func(string) (string, bool)) error {
	switch kind {
	case MemberZone:
		if acct, ok := zoneAccount(id); !ok || acct != m.AccountID {
			return broke(RuleAddressMapMembership, "zone %q is not a zone of the account", id)
		}
	case MemberAccount:
		if id != m.AccountID {
			return broke(RuleAddressMapMembership, "only the map's own account can be a member")
		}
	default:
		return broke(RuleAddressMapMembership, "membership kind %q is not zone or account", kind)
	}
	return nil
}

// CheckDefaultSNI accepts "" or a DNS name.
func CheckDefaultSNI(s string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(s, "."))
	if n != "" && !validHostname(n) {
		return "", broke(RuleAddressMapSNI, "default_sni %q is not a DNS name", s)
	}
	return n, nil
}

// CheckDeleteAddressMap allows deleting only deletable, disabled maps.
func CheckDeleteAddressMap(m *AddressMap) error {
	if !m.CanDelete {
		return broke(RuleAddressMapManaged, "address map %s cannot be deleted", m.ID)
	}
	if m.Enabled {
		return broke(RuleAddressMapEnabled, "address map %s is enabled; disable it before deleting it", m.ID)
	}
	return nil
}

// mapIPsFor returns the IPs DNS answers for a proxied hostname of zone
// (owned by account): the union of the enabled maps with a membership for
// the zone; else of those with a membership for the account; ok is false
// when no enabled map applies (the caller falls back to the anycast pool).
// A map without IPs never applies.
func mapIPsFor(maps []*AddressMap, zone, account string) (ips []netip.Addr, ids []string, ok bool) {
	for _, kind := range []struct{ kind, id string }{{MemberZone, zone}, {MemberAccount, account}} {
		for _, m := range maps {
			if m.Enabled && len(m.IPs) > 0 && m.HasMember(kind.kind, kind.id) {
				ids = append(ids, m.ID)
				for _, ip := range m.Addrs() {
					if !slices.Contains(ips, ip) {
						ips = append(ips, ip)
					}
				}
			}
		}
		if len(ids) > 0 {
			return ips, ids, true
		}
	}
	return nil, nil, false
}
