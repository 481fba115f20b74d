package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/edgesim/edgesim/config"
)

// KindAccessRules is the store kind of IP access rules (config.AccessRule).
const KindAccessRules = "access_rules"

func putAccessRule(r *config.AccessRule) change { return change{KindAccessRules, r.ID, r} }

// accessRuleView is firewall.AccessRule*Response on the wire.
type accessRuleView struct {
	ID            string   `json:"id"`
	AllowedModes  []string `json:"allowed_modes"`
	Configuration struct {
		Target string `json:"target"`
		Value  string `json:"value"`
	} `json:"configuration"`
	Mode       string    `json:"mode"`
	Notes      string    `json:"notes"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
	Scope      struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"scope"`
}

func viewAccessRule(r *config.AccessRule) accessRuleView {
	v := accessRuleView{ID: r.ID, AllowedModes: config.AccessRuleModes, Mode: r.Mode, Notes: r.Notes, CreatedOn: r.CreatedOn.UTC(), ModifiedOn: r.ModifiedOn.UTC()}
	v.Configuration.Target, v.Configuration.Value = r.Target, r.Value
	v.Scope.ID, v.Scope.Type = r.ScopeID, r.Scope
	return v
}

type accessRuleReq struct {
	Configuration *struct {
		Target *string `json:"target"`
		Value  *string `json:"value"`
	} `json:"configuration"`
	Mode  *string `json:"mode"`
	Notes *string `json:"notes"`
}

// scope returns the rule scope of a call: the path's zone, else its account.
func scope(c *call) (string, string) {
	if c.zone.ID != "" {
		return config.ScopeZone, c.zone.ID
	}
	return config.ScopeAccount, c.account
}

// apply sets the request's fields on r (full: configuration and mode are
// required) and checks the result.
func (req *accessRuleReq) apply(r *config.AccessRule, full bool) error {
	if full && req.Configuration == nil {
		return missing("configuration")
	}
	if full && req.Mode == nil {
		return missing("mode")
	}
	if c := req.Configuration; c != nil {
		if c.Target == nil {
			return missing("configuration.target")
		}
		if c.Value == nil {
			return missing("configuration.value")
		}
		r.Target, r.Value = *c.Target, *c.Value
	}
	if req.Mode != nil {
		r.Mode = *req.Mode
	}
	if req.Notes != nil {
		r.Notes = *req.Notes
	}
	p, v, err := config.ParseAccessTarget(r.Mode, r.Target, r.Value)
	if err != nil {
		return err
	}
	r.Prefix, r.Value = p, v
	return nil
}

func (s *Server) createAccessRule(c *call) (any, error) {
	var req accessRuleReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	sc, id := scope(c)
	r := &config.AccessRule{ID: newID(), Scope: sc, ScopeID: id, AccountID: c.account, CreatedOn: now, ModifiedOn: now}
	if err := req.apply(r, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := config.CheckAccessRule(s.state, r); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putAccessRule(r)); err != nil {
		return nil, err
	}
	return viewAccessRule(r), nil
}

func (s *Server) accessRuleLocked(c *call) (*config.AccessRule, error) {
	sc, sid := scope(c)
	id := c.param("rule_id")
	r, ok := s.state.AccessRules[id]
	if !ok || r.Scope != sc || r.ScopeID != sid {
		return nil, notFound("access rule %s", id)
	}
	return r, nil
}

func (s *Server) getAccessRule(c *call) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.accessRuleLocked(c)
	if err != nil {
		return nil, err
	}
	return viewAccessRule(r), nil
}

func (s *Server) editAccessRule(c *call) (any, error) {
	var req accessRuleReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.accessRuleLocked(c)
	if err != nil {
		return nil, err
	}
	r := *old
	if err := req.apply(&r, false); err != nil {
		return nil, err
	}
	r.ModifiedOn = s.clock.Now()
	if err := config.CheckAccessRule(s.state, &r); err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), putAccessRule(&r)); err != nil {
		return nil, err
	}
	return viewAccessRule(&r), nil
}

func (s *Server) deleteAccessRule(c *call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.accessRuleLocked(c)
	if err != nil {
		return nil, err
	}
	if err := s.commitLocked(c.r.Context(), del(KindAccessRules, r.ID)); err != nil {
		return nil, err
	}
	return struct {
		ID string `json:"id"`
	}{r.ID}, nil
}

// listAccessRules lists the scope's rules by creation, filtered by mode,
// configuration.target and configuration.value.
func (s *Server) listAccessRules(c *call) (any, error) {
	pageNum, perPage, err := pageParams(c)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	mode, target, value := q.Get("mode"), q.Get("configuration.target"), q.Get("configuration.value")
	sc, sid := scope(c)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var rs []*config.AccessRule
	for _, r := range s.state.AccessRules {
		if r.Scope != sc || r.ScopeID != sid || mode != "" && r.Mode != mode || target != "" && r.Target != target || value != "" && r.Value != value {
			continue
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *config.AccessRule) int {
		return cmp.Or(a.CreatedOn.Compare(b.CreatedOn), cmp.Compare(a.ID, b.ID))
	})
	views := make([]accessRuleView, 0, len(rs))
	for _, r := range rs {
		views = append(views, viewAccessRule(r))
	}
	return paginate(views, pageNum, perPage), nil
}
