package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgesim/edgesim/config"
)

// KindAddressMaps is the store kind of address maps (config.AddressMap).
const KindAddressMaps = "address_maps"

func putAddressMap(m *config.AddressMap) change { return change{KindAddressMaps, m.ID, m} }

// addressMapView is addressing.AddressMap on the wire (B.7); Get and New
// add ips and memberships.
type addressMapView struct {
	ID           string     `json:"id"`
	CanDelete    bool       `json:"can_delete"`
	CanModifyIPs bool       `json:"can_modify_ips"`
	DefaultSNI   *string    `json:"default_sni"`
	Description  *string    `json:"description"`
	Enabled      bool       `json:"enabled"`
	CreatedAt    *time.Time `json:"created_at"`
	ModifiedAt   *time.Time `json:"modified_at"`
}

type addressMapIPView struct {
	IP        string     `json:"ip"`
	CreatedAt *time.Time `json:"created_at"`
}

type membershipView struct {
	CanDelete  bool       `json:"can_delete"`
	CreatedAt  *time.Time `json:"created_at"`
	Identifier string     `json:"identifier"`
	Kind       string     `json:"kind"`
}

type addressMapFullView struct {
	addressMapView
	IPs         []addressMapIPView `json:"ips"`
	Memberships []membershipView   `json:"memberships"`
}

func viewAddressMap(m *config.AddressMap) addressMapView {
	return addressMapView{
		ID: m.ID, CanDelete: m.CanDelete, CanModifyIPs: m.CanModifyIPs, DefaultSNI: strPtr(m.DefaultSNI),
		Description: strPtr(m.Description), Enabled: m.Enabled, CreatedAt: timePtr(m.CreatedAt), ModifiedAt: timePtr(m.ModifiedAt),
	}
}

func viewAddressMapFull(m *config.AddressMap) addressMapFullView {
	v := addressMapFullView{addressMapView: viewAddressMap(m), IPs: []addressMapIPView{}, Memberships: []membershipView{}}
	for _, ip := range m.IPs {
		v.IPs = append(v.IPs, addressMapIPView{IP: ip.IP.String(), CreatedAt: timePtr(ip.CreatedAt)})
	}
	for _, x := range m.Memberships {
		v.Memberships = append(v.Memberships, membershipView{CanDelete: x.CanDelete, CreatedAt: timePtr(x.CreatedAt), Identifier: x.Identifier, Kind: x.Kind})
	}
	return v
}

// accountMapsLocked returns the account's maps: managed ones from the
// config first, then the stored ones by creation.
func (s *Server) accountMapsLocked(account string) []*config.AddressMap {
	var out, stored []*config.AddressMap
	for _, m := range s.daemon.ManagedAddressMaps() {
		if m.AccountID == account {
			out = append(out, m)
		}
	}
	for _, m := range s.state.AddressMaps {
		if m.AccountID == account {
			stored = append(stored, m)
		}
	}
	slices.SortFunc(stored, func(a, b *config.AddressMap) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return append(out, stored...)
}

func (s *Server) addressMapLocked(c *call) (*config.AddressMap, error) {
	id := c.param("address_map_id")
	for _, m := range s.accountMapsLocked(c.account) {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, notFound("address map %s", id)
}

func (s *Server) zoneAccountLocked(id string) (string, bool) {
	z, ok := s.zoneLocked(id)
	return z.AccountID, ok
}

type addressMapReq struct {
	DefaultSNI  *string  `json:"default_sni"`
	Description *string  `json:"description"`
	Enabled     *bool    `json:"enabled"`
	IPs         []string `json:"ips"`
	Memberships []struct {
		Identifier *string `json:"identifier"`
		Kind       *string `json:"kind"`
	} `json:"memberships"`
}

// editFields applies description, default_sni and enabled.
func (req *addressMapReq) editFields(m *config.AddressMap) error {
	if req.Description != nil {
		if err := config.CheckDescription(*req.Description); err != nil {
			return err
		}
		m.Description = *req.Description
	}
	if req.DefaultSNI != nil {
		sni, err := config.CheckDefaultSNI(*req.DefaultSNI)
		if err != nil {
			return err
		}
		m.DefaultSNI = sni
	}
	if req.Enabled != nil {
		m.Enabled = *req.Enabled
	}
	return nil
}

// createAddressMap adds a map with its ips and memberships (default_sni is
// accepted too, as the docs send it).
func (s *Server) createAddressMap(c *call) (any, error) {
	var req addressMapReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	m := &config.AddressMap{ID: newID(), AccountID: c.account, CanDelete: true, CanModifyIPs: true, CreatedAt: now, ModifiedAt: now}
	if err := req.editFields(m); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, raw := range req.IPs {
		ip, err := config.ParseMapIP(raw)
		if err != nil {
			return nil, err
		}
		if err := config.CheckMapIP(s.state, m, ip); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(m.IPs, func(x config.AddressMapIP) bool { return x.IP == ip }) {
			m.IPs = append(m.IPs, config.AddressMapIP{IP: ip, CreatedAt: now})
		}
	}
	for _, x := range req.Memberships {
		if x.Kind == nil {
			return nil, missing("memberships.kind")
		}
		if x.Identifier == nil {
			return nil, missing("memberships.identifier")
		}
		if err := config.CheckMembership(m, *x.Kind, *x.Identifier, s.zoneAccountLocked); err != nil {
			return nil, err
		}
		if !m.HasMember(*x.Kind, *x.Identifier) {
			m.Memberships = append(m.Memberships, config.Membership{Kind: *x.Kind, Identifier: *x.Identifier, CanDelete: true, CreatedAt: now})
		}
	}
	if err := s.commitLocked(c.r.Context(), putAddressMap(m)); err != nil {
		return nil, err
	}
	s.log.Info("address map created", "id", m.ID, "account_id", m.AccountID, "ips", len(m.IPs), "enabled", m.Enabled)
	return viewAddressMapFull(m), nil
}

func (s *Server) listAddressMaps(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	maps := s.accountMapsLocked(c.account)
	out := make([]addressMapView, 0, len(maps))
	for _, m := range maps {
		out = append(out, viewAddressMap(m))
	}
	return newList(out), nil
}

func (s *Server) getAddressMap(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, err := s.addressMapLocked(c)
	if err != nil {
		return nil, err
	}
	return viewAddressMapFull(m), nil
}

// editAddressMap changes default_sni, description and enabled. Managed
// maps cannot be changed at all.
func (s *Server) editAddressMap(c *call) (any, error) {
	var req struct {
		DefaultSNI  *string `json:"default_sni"`
		Description *string `json:"description"`
		Enabled     *bool   `json:"enabled"`
	}
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.addressMapLocked(c)
	if err != nil {
		return nil, err
	}
	if !m.CanDelete {
		return nil, ruleErr(config.RuleAddressMapManaged, "address map "+m.ID+" is managed and cannot be changed")
	}
	cp := m.Clone()
	full := addressMapReq{DefaultSNI: req.DefaultSNI, Description: req.Description, Enabled: req.Enabled}
	if err := full.editFields(cp); err != nil {
		return nil, err
	}
	cp.ModifiedAt = s.clock.Now()
	if err := s.commitLocked(c.r.Context(), putAddressMap(cp)); err != nil {
		return nil, err
	}
	return viewAddressMap(cp), nil
}

func (s *Server) deleteAddressMap(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.addressMapLocked(c)
	if err != nil {
		return nil, err
	}
	if err := config.CheckDeleteAddressMap(m); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), del(KindAddressMaps, m.ID)); err != nil {
		return nil, err
	}
	s.log.Info("address map deleted", "id", m.ID)
	return nil, nil
}

// changeMapLocked applies mod to a copy of the path's map and persists it;
// the result is null (the SDK reads the whole envelope).
func (s *Server) changeMap(c *call, mod func(m *config.AddressMap, now time.Time) error) (any, error) {
	if err := decodeBody(c, &struct{}{}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.addressMapLocked(c)
	if err != nil {
		return nil, err
	}
	cp := m.Clone()
	now := s.clock.Now()
	if err := mod(cp, now); err != nil {
		return nil, err
	}
	cp.ModifiedAt = now
	if err := s.commitLocked(c.r.Context(), putAddressMap(cp)); err != nil {
		return nil, err
	}
	return nil, nil
}

// putMapIP adds the path's IP (an IPv6 literal appears raw in the path).
func (s *Server) putMapIP(c *call) (any, error) {
	return s.changeMap(c, func(m *config.AddressMap, now time.Time) error {
		ip, err := config.ParseMapIP(c.param("ip_address"))
		if err != nil {
			return err
		}
		if err := config.CheckMapIP(s.state, m, ip); err != nil {
			return err
		}
		if !slices.ContainsFunc(m.IPs, func(x config.AddressMapIP) bool { return x.IP == ip }) {
			m.IPs = append(m.IPs, config.AddressMapIP{IP: ip, CreatedAt: now})
		}
		return nil
	})
}

func (s *Server) deleteMapIP(c *call) (any, error) {
	return s.changeMap(c, func(m *config.AddressMap, _ time.Time) error {
		ip, err := config.ParseMapIP(c.param("ip_address"))
		if err != nil {
			return err
		}
		if !m.CanModifyIPs {
			return ruleErr(config.RuleAddressMapManaged, "the ips of address map "+m.ID+" cannot be changed")
		}
		i := slices.IndexFunc(m.IPs, func(x config.AddressMapIP) bool { return x.IP == ip })
		if i < 0 {
			return notFound("ip %s in address map %s", ip, m.ID)
		}
		m.IPs = slices.Delete(m.IPs, i, i+1)
		return nil
	})
}

func (s *Server) putMember(kind, param string) handlerFunc {
	return func(c *call) (any, error) {
		return s.changeMap(c, func(m *config.AddressMap, now time.Time) error {
			if !m.CanDelete {
				return ruleErr(config.RuleAddressMapManaged, "address map "+m.ID+" is managed and cannot be changed")
			}
			id := c.param(param)
			if err := config.CheckMembership(m, kind, id, s.zoneAccountLocked); err != nil {
				return err
			}
			if !m.HasMember(kind, id) {
				m.Memberships = append(m.Memberships, config.Membership{Kind: kind, Identifier: id, CanDelete: true, CreatedAt: now})
			}
			return nil
		})
	}
}

func (s *Server) deleteMember(kind, param string) handlerFunc {
	return func(c *call) (any, error) {
		return s.changeMap(c, func(m *config.AddressMap, _ time.Time) error {
			id := c.param(param)
			i := slices.IndexFunc(m.Memberships, func(x config.Membership) bool { return x.Kind == kind && x.Identifier == id })
			if i < 0 {
				return notFound("%s membership %s in address map %s", kind, id, m.ID)
			}
			if !m.Memberships[i].CanDelete || !m.CanDelete {
				return ruleErr(config.RuleAddressMapManaged, "this membership of address map "+m.ID+" cannot be deleted")
			}
			m.Memberships = slices.Delete(m.Memberships, i, i+1)
			return nil
		})
	}
}
