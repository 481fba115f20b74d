package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DNS record types edgesim serves.
const (
	RecordA     = "A"
	RecordAAAA  = "AAAA"
	RecordCNAME = "CNAME"
	RecordTXT   = "TXT"
)

// Limits of DNS records.
const (
	TTLAuto       = 1     // "automatic": 300 s
	MinTTL        = 60    // shortest explicit TTL
	MaxTTL        = 86400 // longest TTL
	MaxTXTLen     = 2048  // characters of TXT content
	MaxCommentLen = 100   // characters of a record comment
)

// The rules zones and DNS records can break.
const (
	RuleZoneName          Rule = "zone_name"           // not a DNS name
	RuleZoneDuplicate     Rule = "zone_duplicate"      // a zone of that name exists
	RuleZoneVanityNS      Rule = "zone_vanity_ns"      // vanity_name_servers not distinct DNS names
	RuleDNSRecordType     Rule = "dns_record_type"     // not A, AAAA, CNAME or TXT
	RuleDNSRecordName     Rule = "dns_record_name"     // not a DNS name
	RuleDNSRecordContent  Rule = "dns_record_content"  // content does not fit the type
	RuleDNSRecordTTL      Rule = "dns_record_ttl"      // ttl not 1 (auto) or 60..86400
	RuleDNSRecordProxied  Rule = "dns_record_proxied"  // proxied on a type that cannot be proxied
	RuleDNSRecordConflict Rule = "dns_record_conflict" // identical record, or a CNAME beside other records
	RuleDNSRecordComment  Rule = "dns_record_comment"  // comment too long
	RuleDNSRecordSpectrum Rule = "dns_record_spectrum" // the name belongs to a Spectrum app
)

// DNSRecord is a record of a zone. Proxied A, AAAA and CNAME records are
// the "proxied hostnames": DNS answers them with edge addresses.
type DNSRecord struct {
	ID         string    `json:"id"`
	ZoneID     string    `json:"zone_id"`
	ZoneName   string    `json:"zone_name"`
	AccountID  string    `json:"account_id"`
	Type       string    `json:"type"`
	Name       string    `json:"name"` // FQDN, lowercase, no trailing dot
	Content    string    `json:"content"`
	TTL        int       `json:"ttl"`
	Proxied    bool      `json:"proxied"`
	Comment    string    `json:"comment,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
}

// Proxiable reports whether records of type typ may be proxied.
func Proxiable(typ string) bool { return typ == RecordA || typ == RecordAAAA || typ == RecordCNAME }

// CheckZoneName normalizes a zone name and rejects duplicates among
// existing (config and stored) zone names.
func CheckZoneName(name string, existing []string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if !validHostname(n) || !strings.Contains(n, ".") {
		return "", broke(RuleZoneName, "zone name %q is not a DNS name with at least two labels", name)
	}
	if slices.Contains(existing, n) {
		return "", broke(RuleZoneDuplicate, "a zone named %s exists", n)
	}
	return n, nil
}

// MaxVanityNameServers is the most vanity name servers a zone takes (an
// edgesim limit; the product documents none).
const MaxVanityNameServers = 10

// CheckVanityNameServers normalizes vanity name servers (lowercase, no
// trailing dot) and rejects names that are not DNS names with at least two
// labels, duplicates, and more than MaxVanityNameServers. An empty list
// clears them.
func CheckVanityNameServers(names []string) ([]string, error) {
	if len(names) > MaxVanityNameServers {
		return nil, broke(RuleZoneVanityNS, "at most %d vanity name servers, got %d", MaxVanityNameServers, len(names))
	}
	var out []string
	for _, name := range names {
		n := strings.ToLower(strings.TrimSuffix(name, "."))
		if !validHostname(n) || !strings.Contains(n, ".") {
			return nil, broke(RuleZoneVanityNS, "vanity name server %q is not a DNS name with at least two labels", name)
		}
		if slices.Contains(out, n) {
			return nil, broke(RuleZoneVanityNS, "vanity name server %s is listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// RecordName turns a record name as the API accepts it ("@", "www",
// "www.example.com", a trailing dot) into the FQDN inside zone.
func RecordName(name, zone string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case n == "@" || n == "":
		n = zone
	case !InZone(n, zone):
		n += "." + zone
	}
	check := strings.TrimPrefix(n, "*.")
	if !validHostname(check) {
		return "", broke(RuleDNSRecordName, "record name %q is not a DNS name", name)
	}
	return n, nil
}

// CheckDNSRecordFields checks a record on its own and canonicalizes its
// content (addresses, CNAME targets).
func CheckDNSRecordFields(r *DNSRecord) error {
	switch r.Type {
	case RecordA, RecordAAAA:
		a, err := netip.ParseAddr(r.Content)
		if err != nil || a.Zone() != "" || a.Is4In6() || a.Is4() != (r.Type == RecordA) {
			return broke(RuleDNSRecordContent, "content %q is not an %s address", r.Content, map[string]string{RecordA: "IPv4", RecordAAAA: "IPv6"}[r.Type])
		}
		r.Content = a.String()
	case RecordCNAME:
		c := strings.ToLower(strings.TrimSuffix(r.Content, "."))
		if !validHostname(c) {
			return broke(RuleDNSRecordContent, "content %q is not a DNS name", r.Content)
		}
		if c == r.Name {
			return broke(RuleDNSRecordContent, "a cname cannot point to itself")
		}
		r.Content = c
	case RecordTXT:
		if n := utf8.RuneCountInString(r.Content); n == 0 || n > MaxTXTLen {
			return broke(RuleDNSRecordContent, "txt content must have 1 to %d characters, has %d", MaxTXTLen, n)
		}
	default:
		return broke(RuleDNSRecordType, "record type %q is not A, AAAA, CNAME or TXT", r.Type)
	}
	if r.TTL != TTLAuto && (r.TTL < MinTTL || r.TTL > MaxTTL) {
		return broke(RuleDNSRecordTTL, "ttl %d is not 1 (automatic) or %d..%d", r.TTL, MinTTL, MaxTTL)
	}
	if r.Proxied && !Proxiable(r.Type) {
		return broke(RuleDNSRecordProxied, "%s records cannot be proxied", r.Type)
	}
	if n := utf8.RuneCountInString(r.Comment); n > MaxCommentLen {
		return broke(RuleDNSRecordComment, "comment has %d characters, more than %d", n, MaxCommentLen)
	}
	return nil
}

// CheckDNSRecord checks r against the other records of st: no identical
// record (type, name, content), a CNAME is alone at its name, and the name
// is not a Spectrum app's name (or its CNAME target).
func CheckDNSRecord(st *State, r *DNSRecord) error {
	for _, a := range st.SpectrumApps {
		if a.ZoneID == r.ZoneID && (a.DNS.Name == r.Name || SpectrumTarget(a.DNS.Name, a.ZoneName) == r.Name) {
			return broke(RuleDNSRecordSpectrum, "the name %s belongs to the spectrum app %s", r.Name, a.ID)
		}
	}
	for _, o := range st.DNSRecords {
		if o.ID == r.ID || o.ZoneID != r.ZoneID || o.Name != r.Name {
			continue
		}
		switch {
		case o.Type == r.Type && o.Content == r.Content:
			return broke(RuleDNSRecordConflict, "an identical record exists (%s)", o.ID)
		case o.Type == RecordCNAME || r.Type == RecordCNAME:
			return broke(RuleDNSRecordConflict, "a cname record cannot share its name %s with other records (%s %s)", r.Name, o.Type, o.ID)
		}
	}
	return nil
}

// PoolAnycastAddrs returns the edge's default anycast answer: the first
// host address of each pool prefix (the prefix address + 1). Dynamic
// Spectrum allocation never hands these out.
func PoolAnycastAddrs(pool []netip.Prefix) (v4, v6 []netip.Addr) {
	for _, p := range pool {
		a := p.Addr().Next()
		if !p.Contains(a) {
			continue
		}
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

func (r *DNSRecord) String() string { return fmt.Sprintf("%s %s %s", r.Name, r.Type, r.Content) }
