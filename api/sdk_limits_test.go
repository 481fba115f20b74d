package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/addressing"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/edgesim/edgesim/internal/clock"
)

// attempts records the X-Stainless-Retry-Count of every POST that passes.
type attempts struct {
	mu   sync.Mutex
	seen []string
}

func (a *attempts) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path != "/admin/v1/faults" {
			a.mu.Lock()
			a.seen = append(a.seen, r.Header.Get("X-Stainless-Retry-Count"))
			a.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (a *attempts) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// TestSDKRetriesFaults: cloudflare-go v6 retries an injected 429 or 503
// (honouring Retry-After) and then succeeds; a fault that outlasts
// WithMaxRetries surfaces as *cloudflare.Error with the fault's status and
// code, and changed nothing.
func TestSDKRetriesFaults(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	var seen attempts
	hs := httptest.NewServer(seen.wrap(e.srv.Handler()))
	defer hs.Close()
	const maxRetries = 2
	a := keyClient(hs.URL, emailA, keyA, option.WithMaxRetries(maxRetries))
	tests := []struct {
		name     string
		status   int
		count    int
		cidr     string
		wantErr  bool
		code     Code
		attempts []string // X-Stainless-Retry-Count of each POST
	}{
		{name: "429 once", status: 429, count: 1, cidr: "2001:db8:1::/48", attempts: []string{"0", "1"}},
		{name: "503 once", status: 503, count: 1, cidr: "2001:db8:2::/48", attempts: []string{"0", "1"}},
		{name: "500 twice", status: 500, count: maxRetries, cidr: "2001:db8:3::/48", attempts: []string{"0", "1", "2"}},
		{name: "503 beyond max retries", status: 503, count: maxRetries + 2, cidr: "2001:db8:4::/48", wantErr: true, code: CodeInjectedFault, attempts: []string{"0", "1", "2"}},
		{name: "429 beyond max retries", status: 429, count: maxRetries + 1, cidr: "2001:db8:5::/48", wantErr: true, code: CodeRateLimited, attempts: []string{"0", "1", "2"}},
	}
	for _, tt := range tests {
		e.must("DELETE", "/admin/v1/faults", nil, noAuth, nil)
		// retry_after 0s: the SDK honours Retry-After, so it retries at once.
		addFault(t, e, map[string]any{"match": map[string]any{"method": "POST", "path_prefix": "/client/v4/accounts/" + acctA + "/addressing/prefixes"},
			"status": tt.status, "count": tt.count, "retry_after": "0s"})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		start := time.Now()
		p, err := a.Addressing.Prefixes.New(ctx, addressing.PrefixNewParams{AccountID: cloudflare.F(acctA), CIDR: cloudflare.F(tt.cidr), ASN: cloudflare.F(int64(13335))})
		cancel()
		if tt.wantErr {
			apiErr(t, tt.name, err, tt.status, tt.code)
			if _, ok := prefixByCIDR(e, tt.cidr); ok {
				t.Errorf("%s: the prefix exists after every attempt was faulted", tt.name)
			}
		} else if err != nil || p.CIDR != tt.cidr {
			t.Fatalf("%s: Prefixes.New = %+v, %v; want success after the retries", tt.name, p, err)
		}
		if got := seen.take(); mustJSON(got) != mustJSON(tt.attempts) {
			t.Errorf("%s: POST attempts (retry counts) %v, want %v", tt.name, got, tt.attempts)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v; Retry-After: 0 was not honoured", tt.name, d)
		}
	}
}

// TestSDKRetriesRateLimit: over api.rate_limit, a client without retries
// gets 429 code 971; one with retries waits Retry-After (1 s here) and
// succeeds.
func TestSDKRetriesRateLimit(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{daemon: rateLimited(1, time.Second), clk: clock.New(nil)})
	acct := addressing.PrefixListParams{AccountID: cloudflare.F(acctA)}
	if _, err := keyClient(e.hs.URL, emailA, keyA).Addressing.Prefixes.List(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	_, err := keyClient(e.hs.URL, emailA, keyA).Addressing.Prefixes.List(t.Context(), acct)
	apiErr(t, "over the limit", err, 429, CodeRateLimited)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := keyClient(e.hs.URL, emailA, keyA, option.WithMaxRetries(3)).Addressing.Prefixes.List(ctx, acct); err != nil {
		t.Fatalf("with retries: %v", err)
	}
	if got := e.srv.LimitStats().RateLimited; got < 1 {
		t.Errorf("LimitStats().RateLimited = %d", got)
	}
}

func prefixByCIDR(e *env, cidr string) (string, bool) {
	for id, p := range e.srv.State().Prefixes {
		if p.CIDR.String() == cidr {
			return id, true
		}
	}
	return "", false
}
