package api

import (
	"cmp"
	"encoding/json"
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
}

func (s *Server) viewZone(z config.Zone) zoneView {
	v := zoneView{
		ID: z.ID, Name: z.Name, Status: "active", Type: "full", NameServers: nameServers,
		Meta: map[string]any{}, Owner: map[string]any{}, Plan: map[string]any{}, Permissions: []string{},
		ActivatedOn: timePtr(z.CreatedOn), CreatedOn: z.CreatedOn.UTC(), ModifiedOn: z.CreatedOn.UTC(),
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
