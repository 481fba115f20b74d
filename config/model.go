package config

import (
	"net/netip"
	"slices"
	"time"
)

// Service names as the API lists them. Clients pick services by name.
const (
	ServiceMagicTransit = "Magic Transit"
	ServiceCDN          = "CDN"
	ServiceSpectrum     = "Spectrum"
)

// Service is one of the seeded addressing services. IDs are stable across
// restarts and installations so scripts may hard-code them.
type Service struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Services returns the seeded services in a fixed order.
func Services() []Service {
	return []Service{
		{ID: "2db684ee7ca04e159946fd05b99e1bcd", Name: ServiceMagicTransit},
		{ID: "c5a5ba8d4b1e4b71a0b1b1d9d9b3a3c0", Name: ServiceCDN},
		{ID: "5c3f2a6c19e84a4f8fd0a4cd6c1c9e21", Name: ServiceSpectrum},
	}
}

// ServiceByID returns the seeded service with the given ID.
func ServiceByID(id string) (Service, bool) {
	for _, s := range Services() {
		if s.ID == id {
			return s, true
		}
	}
	return Service{}, false
}

// ValidationState is the state of one prefix validation check (IRR, RPKI
// or ownership), with the values the product documents.
type ValidationState string

const (
	StatePending     ValidationState = "pending"
	StateValid       ValidationState = "valid"
	StateInvalid     ValidationState = "invalid"
	StateMissing     ValidationState = "missing"
	StateMismatchASN ValidationState = "mismatch_asn"
)

// Validation holds the three checks that must all be valid before a prefix
// is approved.
type Validation struct {
	IRR       ValidationState `json:"irr"`
	RPKI      ValidationState `json:"rpki"`
	Ownership ValidationState `json:"ownership"`
}

// AllValid reports whether every check passed.
func (v Validation) AllValid() bool {
	return v.IRR == StateValid && v.RPKI == StateValid && v.Ownership == StateValid
}

// Prefix is an IP prefix an account brings to the edge.
type Prefix struct {
	ID                  string       `json:"id"`
	AccountID           string       `json:"account_id"`
	CIDR                netip.Prefix `json:"cidr"`
	ASN                 uint32       `json:"asn"`
	Description         string       `json:"description"`
	DelegateLOACreation bool         `json:"delegate_loa_creation"`
	LOADocumentID       string       `json:"loa_document_id,omitempty"`
	OwnershipToken      string       `json:"ownership_validation_token"`
	Validation          Validation   `json:"validation"`
	// ValidationDueAt is set while a requested validation has not run yet:
	// the checks run once the (scaled) validation delay has passed.
	ValidationDueAt time.Time `json:"validation_due_at,omitzero"`
	// ValidationError is the last reason a validation could not run
	// (a source was unreachable); the states stay pending then.
	ValidationError string    `json:"validation_error,omitempty"`
	Approved        bool      `json:"approved"`
	OnDemandLocked  bool      `json:"on_demand_locked"`
	CreatedAt       time.Time `json:"created_at"`
	ModifiedAt      time.Time `json:"modified_at"`
}

// Delegation grants another account the use of part or all of a prefix.
type Delegation struct {
	ID                 string       `json:"id"`
	PrefixID           string       `json:"prefix_id"`
	AccountID          string       `json:"account_id"` // the owner of the parent prefix
	CIDR               netip.Prefix `json:"cidr"`
	DelegatedAccountID string       `json:"delegated_account_id"`
	CreatedAt          time.Time    `json:"created_at"`
	ModifiedAt         time.Time    `json:"modified_at"`
}

// BindingState is a service binding's provisioning state.
type BindingState string

const (
	BindingProvisioning BindingState = "provisioning"
	BindingActive       BindingState = "active"
)

// Binding routes the addresses of CIDR (inside prefix PrefixID) to a service.
// The most specific binding covering an address wins.
type Binding struct {
	ID        string       `json:"id"`
	PrefixID  string       `json:"prefix_id"`
	AccountID string       `json:"account_id"`
	CIDR      netip.Prefix `json:"cidr"`
	ServiceID string       `json:"service_id"`
	CreatedAt time.Time    `json:"created_at"`
	// ActiveAt is when provisioning completes (created + scaled propagation delay).
	ActiveAt time.Time `json:"active_at"`
}

// State returns the binding's provisioning state at time now.
func (b *Binding) State(now time.Time) BindingState {
	if now.Before(b.ActiveAt) {
		return BindingProvisioning
	}
	return BindingActive
}

// BGPPrefix is a prefix the edge may announce over BGP: the whole IP prefix
// (created with the default binding) or a more-specific part of it.
type BGPPrefix struct {
	ID                    string       `json:"id"`
	PrefixID              string       `json:"prefix_id"`
	AccountID             string       `json:"account_id"`
	CIDR                  netip.Prefix `json:"cidr"`
	ASN                   uint32       `json:"asn"`
	ASNPrependCount       int          `json:"asn_prepend_count"`
	AutoAdvertiseWithdraw bool         `json:"auto_advertise_withdraw"`
	// Advertised is the requested state, as the API reports it.
	Advertised           bool      `json:"advertised"`
	AdvertisedModifiedAt time.Time `json:"advertised_modified_at,omitzero"`
	// PropagatedAt is when the last advertise or withdraw takes effect at the
	// edge (the scaled advertise or withdraw delay after the request). Until
	// then the edge keeps the previous state.
	PropagatedAt    time.Time `json:"propagated_at,omitzero"`
	OnDemandEnabled bool      `json:"on_demand_enabled"`
	OnDemandLocked  bool      `json:"on_demand_locked"`
	// ReadyAt is the earliest time the prefix may be advertised (the scaled
	// "allow five hours" after the default binding); zero means at once.
	ReadyAt    time.Time `json:"ready_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
}

// Announced reports whether the edge announces the prefix at time now: the
// requested state once it has propagated, the previous state before.
func (b *BGPPrefix) Announced(now time.Time) bool {
	if b.PropagatedAt.IsZero() || !now.Before(b.PropagatedAt) {
		return b.Advertised
	}
	return !b.Advertised
}

// State is the whole mutable control-plane state: what the API changes, the
// store persists and Compile turns into a Snapshot. Maps are keyed by ID.
// A State is not safe for concurrent mutation; the API owns it and hands out
// clones.
type State struct {
	Prefixes    map[string]*Prefix     `json:"prefixes"`
	Delegations map[string]*Delegation `json:"delegations"`
	Bindings    map[string]*Binding    `json:"bindings"`
	BGPPrefixes map[string]*BGPPrefix  `json:"bgp_prefixes"`
	// SpectrumApps are keyed by app ID.
	SpectrumApps map[string]*SpectrumApp `json:"spectrum_apps"`
	// Zones created through the API, keyed by zone ID (the config's zones
	// are not part of the State).
	Zones map[string]*Zone `json:"zones"`
	// DNSRecords are keyed by record ID.
	DNSRecords map[string]*DNSRecord `json:"dns_records"`
	// AddressMaps are keyed by map ID (managed maps seeded from the config
	// are not part of the State).
	AddressMaps map[string]*AddressMap `json:"address_maps"`
	// AccessRules are the IP access rules of zones and accounts, by ID.
	AccessRules map[string]*AccessRule `json:"access_rules"`
	// LOADocuments are uploaded letters of authorization, by ID.
	LOADocuments map[string]*LOADocument `json:"loa_documents"`
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		Prefixes:    map[string]*Prefix{},
		Delegations: map[string]*Delegation{},
		Bindings:    map[string]*Binding{},
		BGPPrefixes: map[string]*BGPPrefix{},

		SpectrumApps: map[string]*SpectrumApp{},
		Zones:        map[string]*Zone{},
		DNSRecords:   map[string]*DNSRecord{},
		AddressMaps:  map[string]*AddressMap{},
		AccessRules:  map[string]*AccessRule{},

		LOADocuments: map[string]*LOADocument{},
	}
}

// Clone returns a deep copy of st. Most objects hold no pointers or slices,
// so copying each struct is enough; the others copy their slices.
func (st *State) Clone() *State {
	return &State{
		Prefixes:     cloneMap(st.Prefixes, shallow),
		Delegations:  cloneMap(st.Delegations, shallow),
		Bindings:     cloneMap(st.Bindings, shallow),
		BGPPrefixes:  cloneMap(st.BGPPrefixes, shallow),
		SpectrumApps: cloneMap(st.SpectrumApps, (*SpectrumApp).Clone),
		Zones:        cloneMap(st.Zones, func(z *Zone) *Zone { c := z.Clone(); return &c }),
		DNSRecords: cloneMap(st.DNSRecords, func(r *DNSRecord) *DNSRecord {
			v := *r
			v.Tags = slices.Clone(r.Tags)
			return &v
		}),
		AddressMaps: cloneMap(st.AddressMaps, (*AddressMap).Clone),
		AccessRules: cloneMap(st.AccessRules, shallow),
		LOADocuments: cloneMap(st.LOADocuments, func(d *LOADocument) *LOADocument {
			v := *d
			v.Content = slices.Clone(d.Content)
			return &v
		}),
	}
}

func shallow[T any](v *T) *T {
	c := *v
	return &c
}

// cloneMap copies m (never nil in the result), cloning each value.
func cloneMap[T any](m map[string]*T, clone func(*T) *T) map[string]*T {
	out := make(map[string]*T, len(m))
	for id, v := range m {
		out[id] = clone(v)
	}
	return out
}
