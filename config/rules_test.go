package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestParsePrefixCIDR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		rule Rule
	}{
		{"203.0.113.0/24", "203.0.113.0/24", ""},
		{"192.0.3.0/23", "", RuleCIDRNotCanonical},
		{"198.51.100.0/22", "198.51.100.0/22", ""},
		{"203.0.113.0/25", "", RuleCIDRTooSpecific},
		{"2001:DB8::/32", "2001:db8::/32", ""},
		{"2001:db8::/48", "2001:db8::/48", ""},
		{"2001:db8::/49", "", RuleCIDRTooSpecific},
		{"2001:db8::1/32", "", RuleCIDRNotCanonical},
		{"203.0.113.1/24", "", RuleCIDRNotCanonical},
		{"::ffff:203.0.113.0/120", "", RuleCIDRInvalid},
		{"fe80::%eth0/64", "", RuleCIDRInvalid},
		{"203.0.113.0", "", RuleCIDRInvalid},
		{"203.0.113.0/33", "", RuleCIDRInvalid},
		{" 203.0.113.0/24", "", RuleCIDRInvalid},
		{"", "", RuleCIDRInvalid},
	}
	for _, tt := range tests {
		got, err := ParsePrefixCIDR(tt.in)
		rule, _ := RuleOf(err)
		if rule != tt.rule || (err == nil && got.String() != tt.want) {
			t.Errorf("ParsePrefixCIDR(%q) = %v, %v (rule %q); want %q, rule %q", tt.in, got, err, rule, tt.want, tt.rule)
		}
	}
}

func TestCheckASNAndDescription(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		asn int64
		ok  bool
	}{{0, false}, {1, true}, {13335, true}, {4294967295, true}, {4294967296, false}, {-1, false}} {
		if err := CheckASN(tt.asn); (err == nil) != tt.ok {
			t.Errorf("CheckASN(%d) = %v", tt.asn, err)
		}
	}
	if CheckDescription(string(make([]rune, 1000))) != nil || CheckDescription(string(make([]rune, 1001))) == nil {
		t.Error("description limit is not 1000 characters")
	}
}

func testState() (*State, *Prefix) {
	st := NewState()
	p := &Prefix{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", AccountID: "acct", CIDR: netip.MustParsePrefix("203.0.113.0/24"), ASN: 13335, Approved: true,
		Validation: Validation{IRR: StateValid, RPKI: StateValid, Ownership: StateValid}}
	st.Prefixes[p.ID] = p
	return st, p
}

func TestCheckToggle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, p := testState()
	bp := &BGPPrefix{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", PrefixID: p.ID, AccountID: "acct", CIDR: p.CIDR}
	st.BGPPrefixes[bp.ID] = bp
	d := Delays{MinToggleInterval: 15 * time.Minute}
	if r, _ := RuleOf(CheckToggle(st, p, bp, true, now, d)); r != RuleAdvertiseNoDefault {
		t.Fatalf("advertise without default binding: rule %q", r)
	}
	if err := CheckToggle(st, p, bp, false, now, d); err != nil {
		t.Fatalf("no change must pass: %v", err)
	}
	st.Bindings["cccccccccccccccccccccccccccccccc"] = &Binding{ID: "cccccccccccccccccccccccccccccccc", PrefixID: p.ID, AccountID: "acct", CIDR: p.CIDR, ServiceID: Services()[1].ID}
	bp.ReadyAt = now.Add(time.Hour)
	if r, _ := RuleOf(CheckToggle(st, p, bp, true, now, d)); r != RuleBGPNotReady {
		t.Fatalf("before ReadyAt: rule %q", r)
	}
	now = now.Add(time.Hour)
	if err := CheckToggle(st, p, bp, true, now, d); err != nil {
		t.Fatalf("advertise: %v", err)
	}
	bp.Advertised, bp.AdvertisedModifiedAt = true, now
	if r, _ := RuleOf(CheckToggle(st, p, bp, false, now.Add(time.Minute), d)); r != RuleToggleTooSoon {
		t.Fatalf("toggle within interval: rule %q", r)
	}
	if err := CheckToggle(st, p, bp, false, now.Add(15*time.Minute), d); err != nil {
		t.Fatalf("toggle after interval: %v", err)
	}
	bp.OnDemandLocked = true
	if r, _ := RuleOf(CheckToggle(st, p, bp, false, now.Add(time.Hour), d)); r != RuleOnDemandLocked {
		t.Fatalf("locked: rule %q", r)
	}
	if r, _ := RuleOf(CheckDeleteBinding(st, p, st.Bindings["cccccccccccccccccccccccccccccccc"], now)); r != RuleDefaultBindingAdvertised {
		t.Fatalf("delete default while advertised: rule %q", r)
	}
}

func TestStateCheckAndClone(t *testing.T) {
	t.Parallel()
	st, p := testState()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	c := st.Clone()
	c.Prefixes[p.ID].Description = "changed"
	if p.Description != "" {
		t.Fatal("Clone shares objects")
	}
	st.Bindings["dddddddddddddddddddddddddddddddd"] = &Binding{ID: "dddddddddddddddddddddddddddddddd", PrefixID: "missing", CIDR: p.CIDR, ServiceID: Services()[0].ID}
	p.Approved, p.Validation.RPKI = true, StateMissing
	if err := st.Check(); err == nil {
		t.Fatal("Check accepted an orphan binding and an unvalidated approval")
	}
}

// TestCloneCoversEveryMap fails when a State map is added without a line in
// Clone (the clone would hold a nil map).
func TestCloneCoversEveryMap(t *testing.T) {
	t.Parallel()
	v := reflect.ValueOf(NewState().Clone()).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Map && f.IsNil() {
			t.Errorf("Clone leaves State.%s nil", v.Type().Field(i).Name)
		}
	}
}
