package config

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
)

// SpectrumTTL is the TTL of every answer edgesim synthesizes for Spectrum
// apps (and, later, proxied records): an assumption, the product does not
// document it.
const SpectrumTTL = 300

// Sources of a DNSAnswer.
const (
	AnswerSpectrum       = "spectrum"        // a Spectrum app's dns.name
	AnswerSpectrumTarget = "spectrum_target" // the edge name a CNAME-type app points to
	AnswerProxied        = "proxied"         // a proxied A/AAAA/CNAME record: edge addresses
	AnswerRecord         = "record"          // DNS-only records, answered as they are
)

// DNSAnswer is what the authoritative DNS serves for one name: A and AAAA
// addresses, or a CNAME target (never both). Slices are shared with the
// Snapshot and must not be modified.
type DNSAnswer struct {
	Name   string       // lowercase, no trailing dot
	Zone   string       // the zone the name belongs to
	A      []netip.Addr // sorted
	AAAA   []netip.Addr // sorted
	CNAME  string       // target name, when the name is an alias
	TXT    []string     // DNS-only TXT records
	TTL    uint32
	Source string // AnswerSpectrum, AnswerSpectrumTarget, AnswerProxied, AnswerRecord
	// AppIDs are the Spectrum apps, RecordIDs the DNS records behind the
	// answer.
	AppIDs        []string
	RecordIDs     []string
	AddressMapIDs []string // the maps a proxied answer comes from
}

// SpectrumTarget is the edge name a CNAME-type Spectrum app's hostname
// points to: "<16 hex of FNV-64a(name)>.spectrum.<zone>". Apps sharing a
// hostname share it; it lies inside the zone, so the same responder
// answers its A/AAAA.
func SpectrumTarget(name, zone string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	return fmt.Sprintf("%016x.spectrum.%s", h.Sum64(), zone)
}

// buildDNSAnswers computes the answer set of st, name by name, the first
// source that has the name winning:
//
//  1. Spectrum apps. dns.type ADDRESS: the name answers the app's edge IPs
//     (static, or allocated from the anycast pool for dynamic apps).
//     dns.type CNAME: the name is a CNAME to SpectrumTarget, which answers
//     the edge IPs; at the zone apex, where a CNAME is not allowed, the
//     name answers the edge IPs directly. Address maps do not apply.
//  2. Proxied A/AAAA/CNAME records, TTL 300, whatever the record content:
//     the IPs of the enabled address maps with a membership for the
//     record's zone (their union); else of those with a membership for the
//     zone's account; else the edge addresses (PoolAnycastAddrs of the
//     pool), both families. A family the chosen maps lack is not answered
//     (NODATA), it does not fall back to the pool. Disabled maps and maps
//     without IPs never count.
//  3. DNS-only records as they are: A/AAAA sets, a CNAME, TXT strings;
//     TTL the smallest record TTL (automatic = 300). The proxied records
//     of a paused zone (Zone.Paused) count as DNS-only, as on the product,
//     where pausing makes a zone DNS-only.
//
// Apps sharing a hostname share their edge IPs (the API enforces it); the
// answer is the union anyway, with every app listed.
func buildDNSAnswers(st *State, o CompileOptions) ([]DNSAnswer, map[string]int) {
	pool := o.AnycastPool
	maps := slices.Clone(o.ManagedAddressMaps)
	for _, m := range st.AddressMaps {
		maps = append(maps, m)
	}
	slices.SortFunc(maps, func(x, y *AddressMap) int { return cmp.Compare(x.ID, y.ID) })
	byName := map[string]*DNSAnswer{}
	addIPs := func(a *DNSAnswer, ips []netip.Addr) {
		for _, ip := range ips {
			if ip.Is4() && !slices.Contains(a.A, ip) {
				a.A = append(a.A, ip)
			} else if ip.Is6() && !slices.Contains(a.AAAA, ip) {
				a.AAAA = append(a.AAAA, ip)
			}
		}
	}
	add := func(name, zone, source, cname, appID string, ips []netip.Addr) {
		a, ok := byName[name]
		if !ok {
			a = &DNSAnswer{Name: name, Zone: zone, TTL: SpectrumTTL, Source: source, CNAME: cname}
			byName[name] = a
		}
		a.AppIDs = append(a.AppIDs, appID)
		if cname == "" {
			addIPs(a, ips)
		}
	}
	for _, app := range sortedApps(st) {
		name, zone := app.DNS.Name, app.ZoneName
		if app.DNS.Type == DNSTypeCNAME && name != zone {
			target := SpectrumTarget(name, zone)
			add(name, zone, AnswerSpectrum, target, app.ID, nil)
			add(target, zone, AnswerSpectrumTarget, "", app.ID, app.EdgeIPs.IPs)
			continue
		}
		add(name, zone, AnswerSpectrum, "", app.ID, app.EdgeIPs.IPs)
	}
	records := make([]*DNSRecord, 0, len(st.DNSRecords))
	for _, r := range st.DNSRecords {
		records = append(records, r)
	}
	slices.SortFunc(records, func(x, y *DNSRecord) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), x.CreatedOn.Compare(y.CreatedOn), cmp.Compare(x.ID, y.ID))
	})
	paused := map[string]bool{} // zone ID -> paused: its records are DNS-only
	for _, z := range st.Zones {
		paused[z.ID] = z.Paused
	}
	proxied := map[string]*DNSRecord{} // name -> first proxied record
	for _, r := range records {
		if _, ok := proxied[r.Name]; !ok && r.Proxied && Proxiable(r.Type) && !paused[r.ZoneID] {
			proxied[r.Name] = r
		}
	}
	v4, v6 := PoolAnycastAddrs(pool)
	edge := append(slices.Clone(v4), v6...)
	for _, r := range records {
		a, ok := byName[r.Name]
		if ok && (a.Source == AnswerSpectrum || a.Source == AnswerSpectrumTarget) {
			continue // the Spectrum app owns the name
		}
		if !ok {
			a = &DNSAnswer{Name: r.Name, Zone: r.ZoneName, Source: AnswerRecord}
			byName[r.Name] = a
		}
		a.RecordIDs = append(a.RecordIDs, r.ID)
		if p := proxied[r.Name]; p != nil {
			if !ok {
				a.Source, a.TTL = AnswerProxied, SpectrumTTL
				if ips, ids, found := mapIPsFor(maps, p.ZoneID, p.AccountID); found {
					addIPs(a, ips)
					a.AddressMapIDs = ids
				} else {
					addIPs(a, edge)
				}
			}
			if r.Type == RecordTXT {
				a.TXT = append(a.TXT, r.Content)
			}
			continue
		}
		ttl := uint32(r.TTL)
		if r.TTL == TTLAuto {
			ttl = SpectrumTTL
		}
		if a.TTL == 0 || ttl < a.TTL {
			a.TTL = ttl
		}
		switch r.Type {
		case RecordA, RecordAAAA:
			if ip, err := netip.ParseAddr(r.Content); err == nil { // checked on write and load
				addIPs(a, []netip.Addr{ip})
			}
		case RecordCNAME:
			a.CNAME = r.Content
		case RecordTXT:
			a.TXT = append(a.TXT, r.Content)
		}
	}
	out := make([]DNSAnswer, 0, len(byName))
	for _, a := range byName {
		slices.SortFunc(a.A, netip.Addr.Compare)
		slices.SortFunc(a.AAAA, netip.Addr.Compare)
		slices.Sort(a.AppIDs)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(x, y DNSAnswer) int { return cmp.Compare(x.Name, y.Name) })
	idx := make(map[string]int, len(out))
	for i, a := range out {
		idx[a.Name] = i
	}
	return out, idx
}

// DNSAnswers returns the whole answer set, sorted by name.
func (s *Snapshot) DNSAnswers() []DNSAnswer {
	if s == nil {
		return nil
	}
	return slices.Clone(s.dns)
}

// DNSAnswer returns the answer for name (lowercase, no trailing dot).
func (s *Snapshot) DNSAnswer(name string) (DNSAnswer, bool) {
	if s == nil {
		return DNSAnswer{}, false
	}
	i, ok := s.dnsIdx[name]
	if !ok {
		return DNSAnswer{}, false
	}
	return s.dns[i], true
}
