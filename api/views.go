package api

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/edgesim/edgesim/config"
)

// newID returns a random 32-character lowercase hex identifier.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b[:])
}

// newUUID returns a random version 4 UUID, the form of ownership tokens.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// timePtr returns nil for the zero time (JSON null), else t in UTC.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// prefixView is addressing.Prefix on the wire (B.2).
type prefixView struct {
	ID                       string     `json:"id"`
	AccountID                string     `json:"account_id"`
	CIDR                     string     `json:"cidr"`
	ASN                      int64      `json:"asn"`
	Description              string     `json:"description"`
	Approved                 string     `json:"approved"`
	IRRValidationState       string     `json:"irr_validation_state"`
	RPKIValidationState      string     `json:"rpki_validation_state"`
	OwnershipValidationState string     `json:"ownership_validation_state"`
	OwnershipValidationToken string     `json:"ownership_validation_token"`
	DelegateLOACreation      bool       `json:"delegate_loa_creation"`
	LOADocumentID            *string    `json:"loa_document_id"`
	OnDemandEnabled          bool       `json:"on_demand_enabled"`
	OnDemandLocked           bool       `json:"on_demand_locked"`
	Advertised               *bool      `json:"advertised"`
	AdvertisedModifiedAt     *time.Time `json:"advertised_modified_at"`
	CreatedAt                time.Time  `json:"created_at"`
	ModifiedAt               time.Time  `json:"modified_at"`
}

// viewPrefix renders p; the advertisement fields come from the BGP prefix of
// p's own CIDR (null while there is none).
func viewPrefix(st *config.State, p *config.Prefix) prefixView {
	v := prefixView{
		ID:                       p.ID,
		AccountID:                p.AccountID,
		CIDR:                     p.CIDR.String(),
		ASN:                      int64(p.ASN),
		Description:              p.Description,
		Approved:                 "P",
		IRRValidationState:       string(p.Validation.IRR),
		RPKIValidationState:      string(p.Validation.RPKI),
		OwnershipValidationState: string(p.Validation.Ownership),
		OwnershipValidationToken: p.OwnershipToken,
		DelegateLOACreation:      p.DelegateLOACreation,
		LOADocumentID:            strPtr(p.LOADocumentID),
		OnDemandLocked:           p.OnDemandLocked,
		CreatedAt:                p.CreatedAt.UTC(),
		ModifiedAt:               p.ModifiedAt.UTC(),
	}
	if p.Approved {
		v.Approved = "V"
	}
	if bp, ok := st.WholeBGPPrefix(p); ok {
		adv := bp.Advertised
		v.Advertised = &adv
		v.AdvertisedModifiedAt = timePtr(bp.AdvertisedModifiedAt)
		v.OnDemandEnabled = bp.OnDemandEnabled
		v.OnDemandLocked = p.OnDemandLocked || bp.OnDemandLocked
	}
	return v
}

// delegationView is addressing.Delegations on the wire (B.3).
type delegationView struct {
	ID                 string    `json:"id"`
	CIDR               string    `json:"cidr"`
	DelegatedAccountID string    `json:"delegated_account_id"`
	ParentPrefixID     string    `json:"parent_prefix_id"`
	CreatedAt          time.Time `json:"created_at"`
	ModifiedAt         time.Time `json:"modified_at"`
}

func viewDelegation(d *config.Delegation) delegationView {
	return delegationView{
		ID:                 d.ID,
		CIDR:               d.CIDR.String(),
		DelegatedAccountID: d.DelegatedAccountID,
		ParentPrefixID:     d.PrefixID,
		CreatedAt:          d.CreatedAt.UTC(),
		ModifiedAt:         d.ModifiedAt.UTC(),
	}
}

// bindingView is addressing.ServiceBinding on the wire (B.5).
type bindingView struct {
	ID           string `json:"id"`
	CIDR         string `json:"cidr"`
	ServiceID    string `json:"service_id"`
	ServiceName  string `json:"service_name"`
	Provisioning struct {
		State config.BindingState `json:"state"`
	} `json:"provisioning"`
}

func viewBinding(b *config.Binding, now time.Time) bindingView {
	svc, _ := config.ServiceByID(b.ServiceID)
	v := bindingView{ID: b.ID, CIDR: b.CIDR.String(), ServiceID: b.ServiceID, ServiceName: svc.Name}
	v.Provisioning.State = b.State(now)
	return v
}

// bgpPrefixView is addressing.BGPPrefix on the wire (B.6).
type bgpPrefixView struct {
	ID                    string `json:"id"`
	CIDR                  string `json:"cidr"`
	ASN                   int64  `json:"asn"`
	ASNPrependCount       int    `json:"asn_prepend_count"`
	AutoAdvertiseWithdraw bool   `json:"auto_advertise_withdraw"`
	BGPSignalOpts         struct {
		Enabled    bool       `json:"enabled"`
		ModifiedAt *time.Time `json:"modified_at"`
	} `json:"bgp_signal_opts"`
	OnDemand struct {
		Advertised           bool       `json:"advertised"`
		AdvertisedModifiedAt *time.Time `json:"advertised_modified_at"`
		OnDemandEnabled      bool       `json:"on_demand_enabled"`
		OnDemandLocked       bool       `json:"on_demand_locked"`
	} `json:"on_demand"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
}

func viewBGPPrefix(p *config.Prefix, b *config.BGPPrefix) bgpPrefixView {
	v := bgpPrefixView{
		ID:                    b.ID,
		CIDR:                  b.CIDR.String(),
		ASN:                   int64(b.ASN),
		ASNPrependCount:       b.ASNPrependCount,
		AutoAdvertiseWithdraw: b.AutoAdvertiseWithdraw,
		CreatedAt:             b.CreatedAt.UTC(),
		ModifiedAt:            b.ModifiedAt.UTC(),
	}
	v.OnDemand.Advertised = b.Advertised
	v.OnDemand.AdvertisedModifiedAt = timePtr(b.AdvertisedModifiedAt)
	v.OnDemand.OnDemandEnabled = b.OnDemandEnabled
	v.OnDemand.OnDemandLocked = b.OnDemandLocked || (p != nil && p.OnDemandLocked)
	return v
}

// statusView is the deprecated prefix-level advertisement status.
type statusView struct {
	Advertised           bool       `json:"advertised"`
	AdvertisedModifiedAt *time.Time `json:"advertised_modified_at"`
}

// byCreation orders objects by creation time, then address, then ID, so that
// lists are stable.
func byCreation[T any](items []T, key func(T) (time.Time, netip.Prefix, string)) {
	slices.SortFunc(items, func(a, b T) int {
		ta, pa, ia := key(a)
		tb, pb, ib := key(b)
		return cmp.Or(ta.Compare(tb), pa.Addr().Compare(pb.Addr()), cmp.Compare(pa.Bits(), pb.Bits()), cmp.Compare(ia, ib))
	})
}
