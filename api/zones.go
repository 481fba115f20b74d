package api

import (
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgesim/edgesim/config"
)

// nameServers are the name servers every zone reports (edgesim's DNS
// responder answers for all zones; the names are placeholders).
var nameServers = []string{"ns1.edgesim.test", "ns2.edgesim.test"}

// zoneLocked returns the zone with id: a config zone, or one created
// through the API. The caller holds s.mu.
func (s *Server) zoneLocked(id string) (config.Zone, bool) {
	if z, ok := s.daemon.ZoneByID(id); ok {
		return z, true
	}
	if z, ok := s.state.Zones[id]; ok {
		return *z, true
	}
	return config.Zone{}, false
}

// allZonesLocked returns the config zones and the stored ones.
func (s *Server) allZonesLocked() []config.Zone {
	out := slices.Clone(s.daemon.Zones)
	for _, z := range s.state.Zones {
		out = append(out, *z)
	}
	return out
}

func (s *Server) accountName(id string) string {
	for _, a := range s.daemon.Accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

// zoneView is zones.Zone on the wire, with the fields a lab can fill.
type zoneView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Account struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"account"`
	Status              string         `json:"status"`
	Paused              bool           `json:"paused"`
	Type                string         `json:"type"`
	DevelopmentMode     int            `json:"development_mode"`
	NameServers         []string       `json:"name_servers"`
	OriginalNameServers []string       `json:"original_name_servers"`
	OriginalRegistrar   *string        `json:"original_registrar"`
	OriginalDnshost     *string        `json:"original_dnshost"`
	Meta                map[string]any `json:"meta"`
	Owner               map[string]any `json:"owner"`
	Plan                map[string]any `json:"plan"`
	Permissions         []string       `json:"permissions"`
	ActivatedOn         *time.Time     `json:"activated_on"`
	CreatedOn           time.Time      `json:"created_on"`
	ModifiedOn          time.Time      `json:"modified_on"`
	VanityNameServers   []string       `json:"vanity_name_servers,omitempty"`
}

func (s *Server) viewZone(z config.Zone) zoneView {
	v := zoneView{
		ID: z.ID, Name: z.Name, Status: "active", Paused: z.Paused, Type: "full", NameServers: nameServers,
		Meta: map[string]any{}, Owner: map[string]any{}, Plan: map[string]any{}, Permissions: []string{},
		ActivatedOn: timePtr(z.CreatedOn), CreatedOn: z.CreatedOn.UTC(), ModifiedOn: cmp.Or(z.ModifiedOn, z.CreatedOn).UTC(),
		VanityNameServers: slices.Clone(z.VanityNameServers),
	}
	v.Account.ID, v.Account.Name = z.AccountID, s.accountName(z.AccountID)
	return v
}

type zoneReq struct {
	Name    *string `json:"name"`
	Account *struct {
		ID *string `json:"id"`
	} `json:"account"`
	Type *string `json:"type"`
}

// createZone adds a zone to an account the credential reaches (POST
// /zones, as zones.ZoneNewParams sends it). Only type "full" exists.
func (s *Server) createZone(c *call) (any, error) {
	var req zoneReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	if req.Name == nil {
		return nil, missing("name")
	}
	if req.Account == nil || req.Account.ID == nil {
		return nil, missing("account.id")
	}
	if req.Type != nil && *req.Type != "full" {
		return nil, ruleErr(config.RuleZoneName, "zone type "+strconv.Quote(*req.Type)+" is not supported; only full")
	}
	acct := *req.Account.ID
	if !slices.Contains(c.cred.Accounts, acct) {
		return nil, notFound("/accounts/%s", acct)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, z := range s.allZonesLocked() {
		names = append(names, strings.ToLower(strings.TrimSuffix(z.Name, ".")))
	}
	name, err := config.CheckZoneName(*req.Name, names)
	if err != nil {
		return nil, err
	}
	z := &config.Zone{ID: newID(), Name: name, AccountID: acct, CreatedOn: s.clock.Now()}
	if err := s.commitLocked(c.r.Context(), putZone(z)); err != nil {
		return nil, err
	}
	s.log.Info("zone created", "id", z.ID, "name", z.Name, "account_id", acct)
	return s.viewZone(*z), nil
}

// listZones lists the zones of every account the credential reaches,
// filtered by name and account.id, ordered by name.
func (s *Server) listZones(c *call) (any, error) {
	pageNum, perPage, err := pageParams(c)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	name := strings.ToLower(strings.TrimSuffix(q.Get("name"), "."))
	acct := q.Get("account.id")
	s.mu.RLock()
	defer s.mu.RUnlock()
	var views []zoneView
	for _, z := range s.allZonesLocked() {
		if !slices.Contains(c.cred.Accounts, z.AccountID) || name != "" && z.Name != name || acct != "" && z.AccountID != acct {
			continue
		}
		views = append(views, s.viewZone(z))
	}
	slices.SortFunc(views, func(a, b zoneView) int { return cmp.Compare(a.Name, b.Name) })
	return paginate(views, pageNum, perPage), nil
}

func (s *Server) getZone(c *call) (any, error) { return s.viewZone(c.zone), nil }

// storedZoneLocked returns the path's zone for a change: a zone created
// through the API. A zone of the daemon config is 400 (CodeZoneConfigured):
// it is seeded from the config on every start, so the API neither edits nor
// deletes it. A zone deleted since authorize looked it up is 404. The
// caller holds s.mu for writing.
func (s *Server) storedZoneLocked(c *call) (*config.Zone, error) {
	id := c.zone.ID
	if _, ok := s.daemon.ZoneByID(id); ok {
		return nil, errorf(http.StatusBadRequest, CodeZoneConfigured,
			"zone %s comes from the daemon config (zones:) and cannot be changed or deleted through the API; edit the config file instead", id)
	}
	z, ok := s.state.Zones[id]
	if !ok {
		return nil, notFound("zone %s", id)
	}
	return z, nil
}

// zoneReadOnlyFields are the fields of a zone object (zones.Zone) that a
// PATCH cannot change: naming one is 400 CodeZoneImmutable rather than
// CodeUnknownField, so that a client learns the field exists but is fixed.
var zoneReadOnlyFields = []string{
	"id", "name", "account", "status", "development_mode", "name_servers", "original_name_servers",
	"original_registrar", "original_dnshost", "meta", "owner", "plan", "permissions", "activated_on",
	"created_on", "modified_on", "cname_suffix", "tenant", "tenant_unit", "verification_key",
}

// zoneEditReq is zones.ZoneEditParams: the editable fields.
type zoneEditReq struct {
	Paused            *bool     `json:"paused"`
	Type              *string   `json:"type"`
	VanityNameServers *[]string `json:"vanity_name_servers"`
}

// editZone changes one property of a zone created through the API (PATCH
// /zones/{id}, as zones.ZoneEditParams sends it; the product changes "only
// one zone property at a time"): paused, type (only "full" exists) or
// vanity_name_servers (an empty list clears them). A PATCH that changes
// nothing answers the zone without writing.
func (s *Server) editZone(c *call) (any, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := decodeJSON(body, &fields); err != nil {
		return nil, err
	}
	for _, f := range zoneReadOnlyFields {
		if _, ok := fields[f]; ok {
			return nil, errorf(http.StatusBadRequest, CodeZoneImmutable,
				"field %q of a zone cannot be changed; a zone PATCH takes paused, type or vanity_name_servers", f)
		}
	}
	var req zoneEditReq
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if n := countSet(req.Paused != nil, req.Type != nil, req.VanityNameServers != nil); n != 1 {
		return nil, errorf(http.StatusBadRequest, CodeZoneEditOne,
			"a zone PATCH changes exactly one of paused, type and vanity_name_servers, got %d", n)
	}
	if req.Type != nil && *req.Type != "full" {
		return nil, ruleErr(config.RuleZoneName, "zone type "+strconv.Quote(*req.Type)+" is not supported; only full")
	}
	var vanity []string
	if req.VanityNameServers != nil {
		if vanity, err = config.CheckVanityNameServers(*req.VanityNameServers); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.storedZoneLocked(c)
	if err != nil {
		return nil, err
	}
	z := old.Clone()
	switch {
	case req.Paused != nil:
		z.Paused = *req.Paused
	case req.VanityNameServers != nil:
		z.VanityNameServers = vanity
	}
	if z.Paused == old.Paused && slices.Equal(z.VanityNameServers, old.VanityNameServers) {
		return s.viewZone(z), nil
	}
	z.ModifiedOn = s.clock.Now()
	if err := s.commitLocked(c.r.Context(), putZone(&z)); err != nil {
		return nil, err
	}
	s.log.Info("zone edited", "id", z.ID, "paused", z.Paused, "vanity_name_servers", len(z.VanityNameServers))
	return s.viewZone(z), nil
}

func countSet(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

// deleteZone deletes a zone created through the API and everything that
// belongs to it, in one store Apply: its DNS records, its Spectrum apps
// and its zone-level IP access rules are deleted (the product deletes them
// with the zone), and address maps lose their membership for the zone
// (the maps themselves stay). The answer is {"id": zone_id}.
func (s *Server) deleteZone(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, err := s.storedZoneLocked(c)
	if err != nil {
		return nil, err
	}
	changes, n := s.zoneDeletionLocked(z.ID, s.clock.Now())
	if err := s.commitLocked(c.r.Context(), changes...); err != nil {
		return nil, err
	}
	s.log.Info("zone deleted", "id", z.ID, "name", z.Name, "dns_records", n.records, "spectrum_apps", n.apps,
		"access_rules", n.rules, "address_map_memberships", n.memberships)
	return struct {
		ID string `json:"id"`
	}{z.ID}, nil
}

type zoneDeletionCounts struct{ records, apps, rules, memberships int }

// zoneDeletionLocked returns the changes that delete zone id: the zone,
// its records, apps and zone-level access rules, and each address map with
// a membership for it, minus that membership (ModifiedAt = now). Changes
// come in a fixed order (kind, then ID). The caller holds s.mu.
func (s *Server) zoneDeletionLocked(id string, now time.Time) ([]change, zoneDeletionCounts) {
	var n zoneDeletionCounts
	var changes []change
	for _, rid := range sortedKeys(s.state.DNSRecords) {
		if s.state.DNSRecords[rid].ZoneID == id {
			changes = append(changes, del(KindDNSRecords, rid))
			n.records++
		}
	}
	for _, aid := range sortedKeys(s.state.SpectrumApps) {
		if s.state.SpectrumApps[aid].ZoneID == id {
			changes = append(changes, del(KindSpectrum, aid))
			n.apps++
		}
	}
	for _, rid := range sortedKeys(s.state.AccessRules) {
		if r := s.state.AccessRules[rid]; r.Scope == config.ScopeZone && r.ScopeID == id {
			changes = append(changes, del(KindAccessRules, rid))
			n.rules++
		}
	}
	for _, mid := range sortedKeys(s.state.AddressMaps) {
		m := s.state.AddressMaps[mid]
		if !m.HasMember(config.MemberZone, id) {
			continue
		}
		cp := m.Clone()
		cp.Memberships = slices.DeleteFunc(cp.Memberships, func(x config.Membership) bool {
			return x.Kind == config.MemberZone && x.Identifier == id
		})
		cp.ModifiedAt = now
		changes = append(changes, putAddressMap(cp))
		n.memberships++
	}
	return append(changes, del(KindZones, id)), n
}

func sortedKeys[T any](m map[string]*T) []string { return slices.Sorted(maps.Keys(m)) }

// dnsRecordReq is the body of record create, PUT and PATCH: the fields of
// the SDK's A, AAAA, CNAME and TXT params.
type dnsRecordReq struct {
	Name           *string         `json:"name"`
	Type           *string         `json:"type"`
	Content        *string         `json:"content"`
	TTL            json.RawMessage `json:"ttl"`
	Proxied        *bool           `json:"proxied"`
	Comment        *string         `json:"comment"`
	Tags           []string        `json:"tags"`
	Settings       json.RawMessage `json:"settings"`
	PrivateRouting *bool           `json:"private_routing"`
}

// apply sets the request's fields on r; full (POST, PUT) requires name,
// type and content and resets everything else to its default.
func (req *dnsRecordReq) apply(r *config.DNSRecord, full bool) error {
	if full {
		for f, v := range map[string]*string{"name": req.Name, "type": req.Type, "content": req.Content} {
			if v == nil {
				return missing(f)
			}
		}
		r.TTL, r.Proxied, r.Comment, r.Tags = config.TTLAuto, false, "", nil
	}
	if req.Name != nil {
		n, err := config.RecordName(*req.Name, r.ZoneName)
		if err != nil {
			return err
		}
		r.Name = n
	}
	if req.Type != nil {
		r.Type = *req.Type
	}
	if req.Content != nil {
		r.Content = *req.Content
	}
	if !isNull(req.TTL) {
		var f float64
		if err := json.Unmarshal(req.TTL, &f); err != nil {
			return errorf(http.StatusBadRequest, CodeFieldType, "field %q must be a json number", "ttl")
		}
		if f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
			return ruleErr(config.RuleDNSRecordTTL, "ttl must be 1 (automatic) or an integer from 60 to 86400")
		}
		r.TTL = int(f)
	}
	if req.Proxied != nil {
		r.Proxied = *req.Proxied
	}
	if req.Comment != nil {
		r.Comment = *req.Comment
	}
	if req.Tags != nil {
		r.Tags = slices.Clone(req.Tags)
	}
	return config.CheckDNSRecordFields(r)
}

// dnsRecordView is the dns.RecordResponse fields for A, AAAA, CNAME, TXT.
type dnsRecordView struct {
	ID         string         `json:"id"`
	ZoneID     string         `json:"zone_id"`
	ZoneName   string         `json:"zone_name"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Content    string         `json:"content"`
	Proxiable  bool           `json:"proxiable"`
	Proxied    bool           `json:"proxied"`
	TTL        int            `json:"ttl"`
	Comment    *string        `json:"comment"`
	Tags       []string       `json:"tags"`
	Settings   map[string]any `json:"settings"`
	Meta       map[string]any `json:"meta"`
	CreatedOn  time.Time      `json:"created_on"`
	ModifiedOn time.Time      `json:"modified_on"`
}

func viewDNSRecord(r *config.DNSRecord) dnsRecordView {
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	return dnsRecordView{
		ID: r.ID, ZoneID: r.ZoneID, ZoneName: r.ZoneName, Name: r.Name, Type: r.Type, Content: r.Content,
		Proxiable: config.Proxiable(r.Type), Proxied: r.Proxied, TTL: r.TTL, Comment: strPtr(r.Comment), Tags: tags,
		Settings: map[string]any{}, Meta: map[string]any{}, CreatedOn: r.CreatedOn.UTC(), ModifiedOn: r.ModifiedOn.UTC(),
	}
}

func (s *Server) createDNSRecord(c *call) (any, error) {
	var req dnsRecordReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	r := &config.DNSRecord{ID: newID(), ZoneID: c.zone.ID, ZoneName: c.zone.Name, AccountID: c.zone.AccountID, CreatedOn: now, ModifiedOn: now}
	if err := req.apply(r, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := config.CheckDNSRecord(s.state, r); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putDNSRecord(r)); err != nil {
		return nil, err
	}
	return viewDNSRecord(r), nil
}

func (s *Server) dnsRecordLocked(c *call) (*config.DNSRecord, error) {
	id := c.param("dns_record_id")
	r, ok := s.state.DNSRecords[id]
	if !ok || r.ZoneID != c.zone.ID {
		return nil, notFound("dns record %s", id)
	}
	return r, nil
}

func (s *Server) getDNSRecord(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.dnsRecordLocked(c)
	if err != nil {
		return nil, err
	}
	return viewDNSRecord(r), nil
}

// changeDNSRecord is PUT (full replace) or PATCH (the fields present).
func (s *Server) changeDNSRecord(full bool) handlerFunc {
	return func(c *call) (any, error) {
		var req dnsRecordReq
		if err := decodeBody(c, &req); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		old, err := s.dnsRecordLocked(c)
		if err != nil {
			return nil, err
		}
		r := *old
		r.Tags = slices.Clone(old.Tags)
		if err := req.apply(&r, full); err != nil {
			return nil, err
		}
		r.ModifiedOn = s.clock.Now()
		if err := config.CheckDNSRecord(s.state, &r); err != nil {
			return nil, err
		}
		if err := s.commitLocked(c.r.Context(), putDNSRecord(&r)); err != nil {
			return nil, err
		}
		return viewDNSRecord(&r), nil
	}
}

func (s *Server) deleteDNSRecord(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.dnsRecordLocked(c)
	if err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), del(KindDNSRecords, r.ID)); err != nil {
		return nil, err
	}
	return struct {
		ID string `json:"id"`
	}{r.ID}, nil
}

// listDNSRecords lists a zone's records by name, then type, then creation,
// filtered by type, name (exact, or name.exact) and proxied.
func (s *Server) listDNSRecords(c *call) (any, error) {
	pageNum, perPage, err := pageParams(c)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	typ := q.Get("type")
	name := cmp.Or(q.Get("name"), q.Get("name.exact"))
	if name != "" {
		if name, err = config.RecordName(name, c.zone.Name); err != nil {
			return nil, errorf(http.StatusBadRequest, CodeBadQuery, "name %q is not a DNS name", q.Get("name"))
		}
	}
	var proxied *bool
	if v := q.Get("proxied"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, CodeBadQuery, "proxied must be true or false, got %q", v)
		}
		proxied = &b
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var rs []*config.DNSRecord
	for _, r := range s.state.DNSRecords {
		if r.ZoneID != c.zone.ID || typ != "" && r.Type != typ || name != "" && r.Name != name || proxied != nil && r.Proxied != *proxied {
			continue
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *config.DNSRecord) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type), a.CreatedOn.Compare(b.CreatedOn), cmp.Compare(a.ID, b.ID))
	})
	views := make([]dnsRecordView, 0, len(rs))
	for _, r := range rs {
		views = append(views, viewDNSRecord(r))
	}
	return paginate(views, pageNum, perPage), nil
}
