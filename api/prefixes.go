package api

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/edgesim/edgesim/config"
)

func (s *Server) routes() http.Handler {
	rt := &router{}
	const pre = "accounts/{account_id}/addressing/"
	const one = pre + "prefixes/{prefix_id}"
	api := func(method, pattern string, a access, h handlerFunc) { rt.add(&rt.api, method, pattern, a, h) }
	api("POST", pre+"prefixes", accessWrite, s.createPrefix)
	api("GET", pre+"prefixes", accessRead, s.listPrefixes)
	api("GET", one, accessRead, s.getPrefix)
	api("PATCH", one, accessWrite, s.editPrefix)
	api("DELETE", one, accessWrite, s.deletePrefix)
	api("POST", one+"/validate", accessValidate, s.validatePrefix)
	api("POST", one+"/delegations", accessWrite, s.createDelegation)
	api("GET", one+"/delegations", accessRead, s.listDelegations)
	api("DELETE", one+"/delegations/{delegation_id}", accessWrite, s.deleteDelegation)
	api("GET", pre+"services", accessRead, s.listServices)
	api("POST", one+"/bindings", accessWrite, s.createBinding)
	api("GET", one+"/bindings", accessRead, s.listBindings)
	api("GET", one+"/bindings/{binding_id}", accessRead, s.getBinding)
	api("DELETE", one+"/bindings/{binding_id}", accessWrite, s.deleteBinding)
	api("POST", one+"/bgp/prefixes", accessWrite, s.createBGPPrefix)
	api("GET", one+"/bgp/prefixes", accessRead, s.listBGPPrefixes)
	api("GET", one+"/bgp/prefixes/{bgp_prefix_id}", accessRead, s.getBGPPrefix)
	api("PATCH", one+"/bgp/prefixes/{bgp_prefix_id}", accessBGP, s.editBGPPrefix)
	api("GET", one+"/bgp/status", accessRead, s.getBGPStatus)
	api("PATCH", one+"/bgp/status", accessBGP, s.editBGPStatus)
	const apps = "zones/{zone_id}/spectrum/apps"
	api("POST", apps, accessWrite, s.createSpectrumApp)
	api("GET", apps, accessRead, s.listSpectrumApps)
	api("GET", apps+"/{app_id}", accessRead, s.getSpectrumApp)
	api("PUT", apps+"/{app_id}", accessWrite, s.updateSpectrumApp)
	api("DELETE", apps+"/{app_id}", accessWrite, s.deleteSpectrumApp)
	api("POST", pre+"loa_documents", accessWrite, s.createLOA)
	api("GET", pre+"loa_documents/{loa_document_id}/download", accessRead, s.downloadLOA)
	const maps = pre + "address_maps"
	const amap = maps + "/{address_map_id}"
	api("POST", maps, accessWrite, s.createAddressMap)
	api("GET", maps, accessRead, s.listAddressMaps)
	api("GET", amap, accessRead, s.getAddressMap)
	api("PATCH", amap, accessWrite, s.editAddressMap)
	api("DELETE", amap, accessWrite, s.deleteAddressMap)
	api("PUT", amap+"/ips/{ip_address}", accessWrite, s.putMapIP)
	api("DELETE", amap+"/ips/{ip_address}", accessWrite, s.deleteMapIP)
	api("PUT", amap+"/zones/{member_zone_id}", accessWrite, s.putMember(config.MemberZone, "member_zone_id"))
	api("DELETE", amap+"/zones/{member_zone_id}", accessWrite, s.deleteMember(config.MemberZone, "member_zone_id"))
	api("PUT", amap+"/accounts/{member_account_id}", accessWrite, s.putMember(config.MemberAccount, "member_account_id"))
	api("DELETE", amap+"/accounts/{member_account_id}", accessWrite, s.deleteMember(config.MemberAccount, "member_account_id"))
	for _, base := range []string{"accounts/{account_id}", "zones/{zone_id}"} {
		rules := base + "/firewall/access_rules/rules"
		api("POST", rules, accessWrite, s.createAccessRule)
		api("GET", rules, accessRead, s.listAccessRules)
		api("GET", rules+"/{rule_id}", accessRead, s.getAccessRule)
		api("PATCH", rules+"/{rule_id}", accessWrite, s.editAccessRule)
		api("DELETE", rules+"/{rule_id}", accessWrite, s.deleteAccessRule)
	}
	api("POST", "zones", accessWrite, s.createZone)
	api("GET", "zones", accessRead, s.listZones)
	api("GET", "zones/{zone_id}", accessRead, s.getZone)
	api("PATCH", "zones/{zone_id}", accessWrite, s.editZone)
	api("DELETE", "zones/{zone_id}", accessWrite, s.deleteZone)
	const recs = "zones/{zone_id}/dns_records"
	api("POST", recs, accessWrite, s.createDNSRecord)
	api("GET", recs, accessRead, s.listDNSRecords)
	api("GET", recs+"/{dns_record_id}", accessRead, s.getDNSRecord)
	api("PUT", recs+"/{dns_record_id}", accessWrite, s.changeDNSRecord(true))
	api("PATCH", recs+"/{dns_record_id}", accessWrite, s.changeDNSRecord(false))
	api("DELETE", recs+"/{dns_record_id}", accessWrite, s.deleteDNSRecord)

	admin := func(method, pattern string, h handlerFunc) { rt.add(&rt.admin, method, pattern, accessNone, h) }
	admin("GET", "clock", s.getClock)
	admin("POST", "clock/fast-forward", s.fastForward)
	admin("POST", "prefixes/{prefix_id}/lock", s.lockPrefix(true))
	admin("POST", "prefixes/{prefix_id}/unlock", s.lockPrefix(false))
	admin("GET", "state", s.getState)
	admin("GET", "dns", s.getDNS)
	admin("POST", "faults", s.addFault)
	admin("GET", "faults", s.listFaults)
	admin("DELETE", "faults", s.clearFaults)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveHTTP(rt, w, r) })
}

// prefixLocked returns the prefix named in the path if it belongs to the
// path's account; otherwise 404 (a delegated account cannot see it). The
// caller holds s.mu.
func (s *Server) prefixLocked(c *call) (*config.Prefix, error) {
	id := c.param("prefix_id")
	p, ok := s.state.Prefixes[id]
	if !ok || p.AccountID != c.account {
		return nil, notFound("prefix %s", id)
	}
	return p, nil
}

type createPrefixReq struct {
	ASN                 *int64  `json:"asn"`
	CIDR                *string `json:"cidr"`
	DelegateLOACreation *bool   `json:"delegate_loa_creation"`
	Description         *string `json:"description"`
	LOADocumentID       *string `json:"loa_document_id"`
}

// parsePrefixReq turns a create request into a Prefix, checking everything
// that does not depend on the state.
func parsePrefixReq(req *createPrefixReq) (*config.Prefix, error) {
	if req.CIDR == nil {
		return nil, missing("cidr")
	}
	cidr, err := config.ParsePrefixCIDR(*req.CIDR)
	if err != nil {
		return nil, err
	}
	if req.ASN == nil {
		return nil, missing("asn")
	}
	if err := config.CheckASN(*req.ASN); err != nil {
		return nil, err
	}
	p := &config.Prefix{CIDR: cidr, ASN: uint32(*req.ASN)}
	if req.Description != nil {
		if err := config.CheckDescription(*req.Description); err != nil {
			return nil, err
		}
		p.Description = *req.Description
	}
	if req.DelegateLOACreation != nil {
		p.DelegateLOACreation = *req.DelegateLOACreation
	}
	if req.LOADocumentID != nil {
		p.LOADocumentID = *req.LOADocumentID
	}
	return p, nil
}

func (s *Server) createPrefix(c *call) (any, error) {
	var req createPrefixReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	p, err := parsePrefixReq(&req)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	p.ID = newID()
	p.AccountID = c.account
	p.OwnershipToken = newUUID()
	p.Validation = pendingValidation()
	p.CreatedAt, p.ModifiedAt = now, now
	if p.DelegateLOACreation {
		p.LOADocumentID = newID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := config.CheckNewPrefix(s.state, p); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putPrefix(p)); err != nil {
		return nil, err
	}
	s.log.Info("prefix created", "prefix", p.CIDR, "id", p.ID, "account", p.AccountID)
	return viewPrefix(s.state, p), nil
}

func pendingValidation() config.Validation {
	return config.Validation{IRR: config.StatePending, RPKI: config.StatePending, Ownership: config.StatePending}
}

func (s *Server) listPrefixes(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ps []*config.Prefix
	for _, p := range s.state.Prefixes {
		if p.AccountID == c.account {
			ps = append(ps, p)
		}
	}
	byCreation(ps, func(p *config.Prefix) (time.Time, netip.Prefix, string) { return p.CreatedAt, p.CIDR, p.ID })
	out := make([]prefixView, 0, len(ps))
	for _, p := range ps {
		out = append(out, viewPrefix(s.state, p))
	}
	return newList(out), nil
}

func (s *Server) getPrefix(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	return viewPrefix(s.state, p), nil
}

func (s *Server) editPrefix(c *call) (any, error) {
	var req struct {
		Description *string `json:"description"`
	}
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if req.Description == nil {
		return nil, missing("description")
	}
	if err := config.CheckDescription(*req.Description); err != nil {
		return nil, err
	}
	cp := *p
	cp.Description = *req.Description
	cp.ModifiedAt = s.clock.Now()
	if err := s.commitLocked(c.r.Context(), putPrefix(&cp)); err != nil {
		return nil, err
	}
	return viewPrefix(s.state, &cp), nil
}

func (s *Server) deletePrefix(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if err := config.CheckDeletePrefix(p); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), del(KindPrefixes, p.ID)); err != nil {
		return nil, err
	}
	s.log.Info("prefix deleted", "prefix", p.CIDR, "id", p.ID)
	return nil, nil
}

// validatePrefix schedules a validation and answers at once with the prefix
// (states pending). An approved prefix stays approved: validating it again
// changes nothing. A validation already scheduled keeps its due time.
func (s *Server) validatePrefix(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if p.Approved || !p.ValidationDueAt.IsZero() {
		return viewPrefix(s.state, p), nil
	}
	now := s.clock.Now()
	cp := *p
	cp.ValidationDueAt = now.Add(s.delays.Validation)
	cp.Validation = pendingValidation()
	cp.ValidationError = ""
	cp.ModifiedAt = now
	if err := s.commitLocked(c.r.Context(), putPrefix(&cp)); err != nil {
		return nil, err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return viewPrefix(s.state, &cp), nil
}

type delegationReq struct {
	CIDR               *string `json:"cidr"`
	DelegatedAccountID *string `json:"delegated_account_id"`
}

func (s *Server) createDelegation(c *call) (any, error) {
	var req delegationReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	if req.CIDR == nil {
		return nil, missing("cidr")
	}
	if req.DelegatedAccountID == nil {
		return nil, missing("delegated_account_id")
	}
	cidr, err := config.ParseCIDR(*req.CIDR)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	d := &config.Delegation{
		ID: newID(), PrefixID: p.ID, AccountID: p.AccountID, CIDR: cidr,
		DelegatedAccountID: *req.DelegatedAccountID, CreatedAt: now, ModifiedAt: now,
	}
	if err := config.CheckNewDelegation(s.state, p, d, func(id string) bool { return s.accounts[id] }); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putDelegation(d)); err != nil {
		return nil, err
	}
	s.log.Info("delegation created", "cidr", d.CIDR, "id", d.ID, "delegated_account", d.DelegatedAccountID)
	return viewDelegation(d), nil
}

func (s *Server) listDelegations(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	var ds []*config.Delegation
	for _, d := range s.state.Delegations {
		if d.PrefixID == p.ID {
			ds = append(ds, d)
		}
	}
	byCreation(ds, func(d *config.Delegation) (time.Time, netip.Prefix, string) { return d.CreatedAt, d.CIDR, d.ID })
	out := make([]delegationView, 0, len(ds))
	for _, d := range ds {
		out = append(out, viewDelegation(d))
	}
	return newList(out), nil
}

func (s *Server) deleteDelegation(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.prefixLocked(c)
	if err != nil {
		return nil, err
	}
	id := c.param("delegation_id")
	d, ok := s.state.Delegations[id]
	if !ok || d.PrefixID != p.ID {
		return nil, notFound("delegation %s", id)
	}
	if err := s.commitLocked(c.r.Context(), del(KindDelegations, id)); err != nil {
		return nil, err
	}
	return struct {
		ID string `json:"id"`
	}{id}, nil
}

func (s *Server) listServices(c *call) (any, error) {
	return newList(config.Services()), nil
}
