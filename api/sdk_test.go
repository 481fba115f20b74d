package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/addressing"
	"github.com/cloudflare/cloudflare-go/v6/option"
)

// clearCloudflareEnv unsets the variables NewClient reads, so that only the
// options a test passes apply. It uses t.Setenv, so callers cannot be parallel.
func clearCloudflareEnv(t *testing.T) {
	for _, k := range []string{"CLOUDFLARE_BASE_URL", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL", "CLOUDFLARE_API_USER_SERVICE_KEY"} {
		t.Setenv(k, "") // restores the old value after the test
		os.Unsetenv(k)
	}
}

func keyClient(url, email, k string, opts ...option.RequestOption) *cloudflare.Client {
	return cloudflare.NewClient(append([]option.RequestOption{
		option.WithBaseURL(url + "/client/v4/"), option.WithAPIEmail(email), option.WithAPIKey(k), option.WithMaxRetries(0),
	}, opts...)...)
}

func tokenClient(url, tok string) *cloudflare.Client {
	return cloudflare.NewClient(option.WithBaseURL(url+"/client/v4/"), option.WithAPIToken(tok), option.WithMaxRetries(0))
}

// apiErr asserts err is a *cloudflare.Error with status and code.
func apiErr(t *testing.T, op string, err error, status int, code Code) {
	t.Helper()
	var ce *cloudflare.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: err = %v, want *cloudflare.Error", op, err)
	}
	if ce.StatusCode != status || len(ce.Errors) == 0 || ce.Errors[0].Code != int64(code) {
		t.Fatalf("%s: status %d errors %+v, want %d code %d", op, ce.StatusCode, ce.Errors, status, code)
	}
}

func fastForward(t *testing.T, url, d string) {
	t.Helper()
	res, err := http.Post(url+"/admin/v1/clock/fast-forward", "application/json", stringsReader(`{"duration":"`+d+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("fast-forward %s: %d", d, res.StatusCode)
	}
}

// TestSDKWorkflow runs DESIGN.md steps 1-5 with cloudflare-go v6.10.0.
func TestSDKWorkflow(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	aTok := tokenClient(e.hs.URL, tokenA)
	b := tokenClient(e.hs.URL, tokenB)
	acct := cloudflare.F(acctA)

	// 1. Add the prefix.
	p, err := a.Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{
		AccountID: acct, CIDR: cloudflare.F(v4), ASN: cloudflare.F(int64(13335)),
		DelegateLOACreation: cloudflare.F(true), Description: cloudflare.F("edgesim test prefix"),
	})
	if err != nil {
		t.Fatalf("Prefixes.New: %v", err)
	}
	if p.Approved != "P" || p.IrrValidationState != "pending" || p.RPKIValidationState != "pending" ||
		p.OwnershipValidationState != "pending" || p.OwnershipValidationToken == "" || p.LOADocumentID == "" || p.Advertised {
		t.Fatalf("new prefix: %+v", p)
	}

	// 2. Validate (async), fast-forward, poll until approved.
	var validated struct {
		Success bool              `json:"success"`
		Result  addressing.Prefix `json:"result"`
	}
	if err := a.Post(ctx, fmt.Sprintf("accounts/%s/addressing/prefixes/%s/validate", acctA, p.ID), nil, &validated); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !validated.Success || validated.Result.ID != p.ID || validated.Result.Approved != "P" {
		t.Fatalf("validate returned %+v", validated)
	}
	fastForward(t, e.hs.URL, "1m")
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err = aTok.Addressing.Prefixes.Get(ctx, p.ID, addressing.PrefixGetParams{AccountID: acct})
		if err != nil {
			t.Fatalf("Prefixes.Get: %v", err)
		}
		if p.Approved == "V" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prefix not approved: %+v", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p.IrrValidationState != "valid" || p.RPKIValidationState != "valid" || p.OwnershipValidationState != "valid" {
		t.Fatalf("approved prefix states: %+v", p)
	}

	// 3. Delegate 203.0.113.18/32 to account B.
	d, err := a.Addressing.Prefixes.Delegations.New(ctx, p.ID, addressing.PrefixDelegationNewParams{
		AccountID: acct, CIDR: cloudflare.F("203.0.113.18/32"), DelegatedAccountID: cloudflare.F(acctB),
	})
	if err != nil {
		t.Fatalf("Delegations.New: %v", err)
	}
	if d.CIDR != "203.0.113.18/32" || d.DelegatedAccountID != acctB || d.ParentPrefixID != p.ID {
		t.Fatalf("delegation: %+v", d)
	}
	dl, err := a.Addressing.Prefixes.Delegations.List(ctx, p.ID, addressing.PrefixDelegationListParams{AccountID: acct})
	if err != nil || len(dl.Result) != 1 || dl.Result[0].ID != d.ID {
		t.Fatalf("Delegations.List: %v %+v", err, dl)
	}
	bl, err := b.Addressing.Prefixes.List(ctx, addressing.PrefixListParams{AccountID: cloudflare.F(acctB)})
	if err != nil || len(bl.Result) != 0 {
		t.Fatalf("account B lists %v %+v, want no prefixes", err, bl)
	}

	// 4. Services by name.
	var cdnID, spectrumID string
	iter := a.Addressing.Services.ListAutoPaging(ctx, addressing.ServiceListParams{AccountID: acct})
	for iter.Next() {
		switch s := iter.Current(); s.Name {
		case "CDN":
			cdnID = s.ID
		case "Spectrum":
			spectrumID = s.ID
		}
	}
	if err := iter.Err(); err != nil || cdnID == "" || spectrumID == "" {
		t.Fatalf("Services.List: %v cdn=%q spectrum=%q", err, cdnID, spectrumID)
	}

	// 5. Default binding, then a more-specific Spectrum binding.
	def, err := a.Addressing.Prefixes.ServiceBindings.New(ctx, p.ID, addressing.PrefixServiceBindingNewParams{
		AccountID: acct, CIDR: cloudflare.F(p.CIDR), ServiceID: cloudflare.F(cdnID),
	})
	if err != nil {
		t.Fatalf("ServiceBindings.New(default): %v", err)
	}
	sb, err := a.Addressing.Prefixes.ServiceBindings.New(ctx, p.ID, addressing.PrefixServiceBindingNewParams{
		AccountID: acct, CIDR: cloudflare.F("203.0.113.16/29"), ServiceID: cloudflare.F(spectrumID),
	})
	if err != nil {
		t.Fatalf("ServiceBindings.New(spectrum): %v", err)
	}
	if def.Provisioning.State != addressing.ServiceBindingProvisioningStateProvisioning ||
		sb.Provisioning.State != addressing.ServiceBindingProvisioningStateProvisioning ||
		sb.ServiceName != "Spectrum" || def.ServiceName != "CDN" {
		t.Fatalf("bindings: %+v %+v", def, sb)
	}
	fastForward(t, e.hs.URL, "5h")
	bs, err := a.Addressing.Prefixes.ServiceBindings.List(ctx, p.ID, addressing.PrefixServiceBindingListParams{AccountID: acct})
	if err != nil || len(bs.Result) != 2 {
		t.Fatalf("ServiceBindings.List: %v %+v", err, bs)
	}
	for _, x := range bs.Result {
		if x.Provisioning.State != addressing.ServiceBindingProvisioningStateActive {
			t.Fatalf("binding %s is %s after the propagation delay", x.CIDR, x.Provisioning.State)
		}
	}
	got, err := a.Addressing.Prefixes.ServiceBindings.Get(ctx, p.ID, sb.ID, addressing.PrefixServiceBindingGetParams{AccountID: acct})
	if err != nil || got.CIDR != "203.0.113.16/29" || got.Provisioning.State != addressing.ServiceBindingProvisioningStateActive {
		t.Fatalf("ServiceBindings.Get: %v %+v", err, got)
	}

	// 6. The BGP prefix exists, withdrawn; advertise it.
	bgps, err := a.Addressing.Prefixes.BGPPrefixes.List(ctx, p.ID, addressing.PrefixBGPPrefixListParams{AccountID: acct})
	if err != nil || len(bgps.Result) != 1 {
		t.Fatalf("BGPPrefixes.List: %v %+v", err, bgps)
	}
	bp := bgps.Result[0]
	if bp.CIDR != v4 || bp.OnDemand.Advertised || !bp.OnDemand.OnDemandEnabled || bp.OnDemand.OnDemandLocked || bp.ASN != 13335 {
		t.Fatalf("auto-created bgp prefix: %+v", bp)
	}
	upd, err := a.Addressing.Prefixes.BGPPrefixes.Edit(ctx, p.ID, bp.ID, addressing.PrefixBGPPrefixEditParams{
		AccountID:       acct,
		OnDemand:        cloudflare.F(addressing.PrefixBGPPrefixEditParamsOnDemand{Advertised: cloudflare.F(true)}),
		ASNPrependCount: cloudflare.F(int64(0)),
	})
	if err != nil {
		t.Fatalf("BGPPrefixes.Edit: %v", err)
	}
	if !upd.OnDemand.Advertised || upd.OnDemand.AdvertisedModifiedAt.IsZero() {
		t.Fatalf("advertised bgp prefix: %+v", upd.OnDemand)
	}
	st, err := a.Addressing.Prefixes.AdvertisementStatus.Get(ctx, p.ID, addressing.PrefixAdvertisementStatusGetParams{AccountID: acct})
	if err != nil || !st.Advertised || !st.AdvertisedModifiedAt.Equal(upd.OnDemand.AdvertisedModifiedAt) {
		t.Fatalf("AdvertisementStatus.Get: %v %+v, want advertised at %v", err, st, upd.OnDemand.AdvertisedModifiedAt)
	}
	p, err = a.Addressing.Prefixes.Get(ctx, p.ID, addressing.PrefixGetParams{AccountID: acct})
	if err != nil || !p.Advertised || !p.OnDemandEnabled {
		t.Fatalf("prefix after advertise: %v %+v", err, p)
	}
	// The deprecated endpoint withdraws the same BGP prefix.
	ed, err := a.Addressing.Prefixes.AdvertisementStatus.Edit(ctx, p.ID, addressing.PrefixAdvertisementStatusEditParams{AccountID: acct, Advertised: cloudflare.F(false)})
	if err != nil || ed.Advertised {
		t.Fatalf("AdvertisementStatus.Edit: %v %+v", err, ed)
	}
	g, err := a.Addressing.Prefixes.BGPPrefixes.Get(ctx, p.ID, bp.ID, addressing.PrefixBGPPrefixGetParams{AccountID: acct})
	if err != nil || g.OnDemand.Advertised {
		t.Fatalf("BGPPrefixes.Get after status withdraw: %v %+v", err, g)
	}
	// The edge keeps announcing until the withdrawal propagates.
	s := e.srv.State().BGPPrefixes[bp.ID]
	if !s.Announced(e.clk.Now()) || s.Announced(e.clk.Now().Add(e.srv.delays.Withdraw)) {
		t.Fatalf("propagation: %+v", s)
	}

	// Cleanup paths: delete the Spectrum binding and the delegation.
	if _, err := a.Addressing.Prefixes.ServiceBindings.Delete(ctx, p.ID, sb.ID, addressing.PrefixServiceBindingDeleteParams{AccountID: acct}); err != nil {
		t.Fatalf("ServiceBindings.Delete: %v", err)
	}
	if del, err := a.Addressing.Prefixes.Delegations.Delete(ctx, p.ID, d.ID, addressing.PrefixDelegationDeleteParams{AccountID: acct}); err != nil || del.ID != d.ID {
		t.Fatalf("Delegations.Delete: %v %+v", err, del)
	}
}

// TestSDKErrors checks error paths as the SDK reports them.
func TestSDKErrors(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	ctx := t.Context()
	a := keyClient(e.hs.URL, emailA, keyA)
	acct := cloudflare.F(acctA)
	id, bgp := e.withDefault(v4)

	_, err := a.Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{AccountID: acct, CIDR: cloudflare.F(v4), ASN: cloudflare.F(int64(13335))})
	apiErr(t, "duplicate prefix", err, 409, CodePrefixOverlapOwn)
	_, err = a.Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{AccountID: acct, CIDR: cloudflare.F("198.51.100.0/25"), ASN: cloudflare.F(int64(13335))})
	apiErr(t, "too specific", err, 400, CodeCIDRTooSpecific)
	_, err = a.Addressing.Prefixes.Get(ctx, newID(), addressing.PrefixGetParams{AccountID: acct})
	apiErr(t, "unknown prefix", err, 404, CodeNotFound)
	_, err = a.Addressing.Prefixes.Delete(ctx, id, addressing.PrefixDeleteParams{AccountID: acct})
	apiErr(t, "delete approved", err, 409, CodePrefixApproved)
	_, err = a.Addressing.Prefixes.ServiceBindings.New(ctx, id, addressing.PrefixServiceBindingNewParams{AccountID: acct, CIDR: cloudflare.F("203.0.113.0/29"), ServiceID: cloudflare.F(svcMT)})
	apiErr(t, "magic transit not default", err, 400, CodeMagicTransitNotDefault)
	_, err = a.Addressing.Prefixes.BGPPrefixes.Edit(ctx, id, bgp, addressing.PrefixBGPPrefixEditParams{AccountID: acct, ASNPrependCount: cloudflare.F(int64(4))})
	apiErr(t, "prepend 4", err, 400, CodeASNPrependRange)
	_, err = a.Addressing.Prefixes.Delegations.New(ctx, id, addressing.PrefixDelegationNewParams{AccountID: acct, CIDR: cloudflare.F("203.0.113.18/32"), DelegatedAccountID: cloudflare.F(acctA)})
	apiErr(t, "delegate to owner", err, 400, CodeDelegationToOwner)

	bad := keyClient(e.hs.URL, emailA, "00000000000000000000000000000000")
	_, err = bad.Addressing.Prefixes.List(ctx, addressing.PrefixListParams{AccountID: acct})
	apiErr(t, "bad key", err, 403, CodeAuth)
	_, err = keyClient(e.hs.URL, emailA, keyA).Addressing.Prefixes.List(ctx, addressing.PrefixListParams{AccountID: cloudflare.F(acctB)})
	apiErr(t, "other account", err, 404, CodeNotFound)
	_, err = tokenClient(e.hs.URL, tokenRead).Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{AccountID: acct, CIDR: cloudflare.F("192.0.2.0/24"), ASN: cloudflare.F(int64(13335))})
	apiErr(t, "read token writes", err, 403, CodeForbidden)
}

// TestSDKDefaultRetriesSendConflictOnce proves a 409 is not retried by a
// client with the default retry policy (x-should-retry: false).
func TestSDKDefaultRetriesSendConflictOnce(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	e.createPrefix(v4)
	var posts atomic.Int64
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		e.srv.Handler().ServeHTTP(w, r)
	}))
	defer counting.Close()
	c := cloudflare.NewClient(option.WithBaseURL(counting.URL+"/client/v4/"), option.WithAPIEmail(emailA), option.WithAPIKey(keyA))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := c.Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{AccountID: cloudflare.F(acctA), CIDR: cloudflare.F(v4), ASN: cloudflare.F(int64(13335))})
	apiErr(t, "duplicate prefix", err, 409, CodePrefixOverlapOwn)
	if n := posts.Load(); n != 1 {
		t.Fatalf("the SDK sent the conflicting POST %d times, want 1", n)
	}
}
