package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/store"
)

func rateLimited(n int, window time.Duration) func(*config.Daemon) {
	return func(d *config.Daemon) {
		d.API.RateLimit = config.RateLimit{Requests: n, Window: config.Duration(window)}
	}
}

// TestRateLimit walks one credential through a window of 3 requests per
// minute: the limit, the 429 and its headers, other credentials, admin
// routes, unauthenticated requests, and the window's end.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{daemon: rateLimited(3, time.Minute)})
	list := pfxPath(acctA)
	tests := []struct {
		name       string
		advance    time.Duration // clock fast-forward before the request
		method     string
		path       string
		body       any
		a          auth
		status     int
		code       Code
		ratelimit  string // Ratelimit header; "" = absent
		retryAfter string // Retry-After header; "" = absent
	}{
		{name: "first", method: "GET", path: list, a: authA, status: 200, ratelimit: `"default";r=2;t=60`},
		{name: "second", method: "GET", path: list, a: authA, status: 200, ratelimit: `"default";r=1;t=60`},
		{name: "third uses the window up", advance: 10 * time.Second, method: "POST", path: list, body: map[string]any{"cidr": v4, "asn": 13335}, a: authA, status: 200, ratelimit: `"default";r=0;t=50`},
		{name: "fourth is 429", method: "GET", path: list, a: authA, status: 429, code: CodeRateLimited, ratelimit: `"default";r=0;t=50`, retryAfter: "50"},
		{name: "a write over the limit changes nothing", method: "POST", path: list, body: map[string]any{"cidr": "192.0.2.0/24", "asn": 13335}, a: authA, status: 429, code: CodeRateLimited, ratelimit: `"default";r=0;t=50`, retryAfter: "50"},
		{name: "still limited for another account's path", method: "GET", path: pfxPath(acctB), a: authA, status: 429, code: CodeRateLimited, ratelimit: `"default";r=0;t=50`, retryAfter: "50"},
		{name: "the same account's token is another credential", method: "GET", path: list, a: bearer(tokenA), status: 200, ratelimit: `"default";r=2;t=60`},
		{name: "another account's key", method: "GET", path: pfxPath(acctB), a: authB, status: 200, ratelimit: `"default";r=2;t=60`},
		{name: "admin routes are exempt", method: "GET", path: "/admin/v1/state", a: noAuth, status: 200},
		{name: "unauthenticated requests are not counted", method: "GET", path: list, a: noAuth, status: 400, code: CodeMissingAuth},
		{name: "unknown credentials are not counted", method: "GET", path: list, a: key(emailA, "00000000000000000000000000000000"), status: 403, code: CodeAuth},
		{name: "retry-after rounds up", advance: 49*time.Second + 500*time.Millisecond, method: "GET", path: "/accounts/" + acctA + "/addressing/prefixes", a: authA, status: 429, code: CodeRateLimited, ratelimit: `"default";r=0;t=1`, retryAfter: "1"},
		{name: "a new window", advance: time.Second, method: "GET", path: list, a: authA, status: 200, ratelimit: `"default";r=2;t=60`},
	}
	for _, tt := range tests {
		e.clk.FastForward(tt.advance)
		r := e.do(tt.method, tt.path, tt.body, tt.a)
		if r.Status != tt.status || r.code() != tt.code {
			t.Fatalf("%s: %d code %d, want %d code %d: %s", tt.name, r.Status, r.code(), tt.status, tt.code, r.Raw)
		}
		if got := r.Header.Get("Ratelimit"); got != tt.ratelimit {
			t.Errorf("%s: Ratelimit %q, want %q", tt.name, got, tt.ratelimit)
		}
		if got := r.Header.Get("Retry-After"); got != tt.retryAfter {
			t.Errorf("%s: Retry-After %q, want %q", tt.name, got, tt.retryAfter)
		}
		if tt.ratelimit != "" && r.Header.Get("Ratelimit-Policy") != `"default";q=3;w=60` {
			t.Errorf("%s: Ratelimit-Policy %q", tt.name, r.Header.Get("Ratelimit-Policy"))
		}
		if tt.status == 429 {
			// The SDK must retry it: no x-should-retry: false.
			if v := r.Header.Get("X-Should-Retry"); v != "" {
				t.Errorf("%s: x-should-retry %q on a 429", tt.name, v)
			}
			if r.Env.Success || len(r.Env.Errors) != 1 || r.Env.Errors[0].Message != rateLimitMsg || r.Env.Messages == nil || string(r.Env.Result) != "null" {
				t.Errorf("%s: envelope %s", tt.name, r.Raw)
			}
		}
	}
	if n := len(e.srv.State().Prefixes); n != 1 {
		t.Errorf("%d prefixes, want 1 (the rate-limited POST must not create one)", n)
	}
	if got := e.srv.LimitStats(); got != (LimitStats{RateLimited: 4}) {
		t.Errorf("LimitStats = %+v, want 4 rate limited", got)
	}
}

// TestRateLimitOff: without api.rate_limit nothing is limited and no rate
// limit headers are sent.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	for range 50 {
		r := e.must("GET", pfxPath(acctA), nil, authA, nil)
		if h := r.Header.Get("Ratelimit"); h != "" {
			t.Fatalf("Ratelimit %q with the limit off", h)
		}
	}
}

// TestRateLimitConcurrent: of many concurrent requests of one credential,
// exactly the limit succeed.
func TestRateLimitConcurrent(t *testing.T) {
	t.Parallel()
	const limit, n = 20, 60
	e := newEnv(t, envOpt{daemon: rateLimited(limit, time.Hour)})
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", e.hs.URL+pfxPath(acctA), nil)
			authA(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			switch res.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != limit || limited.Load() != n-limit {
		t.Fatalf("%d ok, %d limited; want %d and %d", ok.Load(), limited.Load(), limit, n-limit)
	}
}

func addFault(t *testing.T, e *env, body any) fault {
	t.Helper()
	var f fault
	e.must("POST", "/admin/v1/faults", body, noAuth, &f)
	return f
}

func pendingFaults(t *testing.T, e *env) []fault {
	t.Helper()
	var fs []fault
	e.must("GET", "/admin/v1/faults", nil, noAuth, &fs)
	return fs
}

func TestFaultRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	tests := []struct {
		name string
		body string
		code Code
	}{
		{"no status", `{"count": 1}`, CodeMissingField},
		{"not an error status", `{"status": 200}`, CodeAdminBadFault},
		{"status too large", `{"status": 600}`, CodeAdminBadFault},
		{"count 0", `{"status": 503, "count": 0}`, CodeAdminBadFault},
		{"negative count", `{"status": 503, "count": -1}`, CodeAdminBadFault},
		{"bad retry_after", `{"status": 429, "retry_after": "soon"}`, CodeAdminBadFault},
		{"negative retry_after", `{"status": 429, "retry_after": "-1s"}`, CodeAdminBadFault},
		{"relative path", `{"status": 503, "match": {"path_prefix": "accounts/"}}`, CodeAdminBadFault},
		{"admin path", `{"status": 503, "match": {"path_prefix": "/admin/v1/"}}`, CodeAdminBadFault},
		{"bad method", `{"status": 503, "match": {"method": "GET /"}}`, CodeAdminBadFault},
		{"unknown field", `{"status": 503, "match": {"query": "x"}}`, CodeUnknownField},
		{"status as a string", `{"status": "503"}`, CodeFieldType},
	}
	for _, tt := range tests {
		r := e.do("POST", "/admin/v1/faults", tt.body, noAuth)
		if r.Status != 400 || r.code() != tt.code {
			t.Errorf("%s: %d code %d, want 400 code %d: %s", tt.name, r.Status, r.code(), tt.code, r.Raw)
		}
	}
	if fs := pendingFaults(t, e); len(fs) != 0 {
		t.Fatalf("rejected faults are pending: %+v", fs)
	}
}

// TestFaultAnswers: each status gets the envelope, code, x-should-retry and
// Retry-After the real API would send with it; the faulted request runs
// nothing (no auth, no handler, no state change).
func TestFaultAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status      int
		retryAfter  *string
		code        Code
		shouldRetry string // "" = absent
		wantAfter   string // Retry-After; "" = absent
	}{
		{status: 429, code: CodeRateLimited, wantAfter: "1"},
		{status: 429, retryAfter: new("2500ms"), code: CodeRateLimited, wantAfter: "3"},
		{status: 429, retryAfter: new("0s"), code: CodeRateLimited, wantAfter: "0"},
		{status: 503, code: CodeInjectedFault, wantAfter: "1"},
		{status: 503, retryAfter: new("2s"), code: CodeInjectedFault, wantAfter: "2"},
		{status: 500, code: CodeInjectedFault},
		{status: 500, retryAfter: new("1m"), code: CodeInjectedFault, wantAfter: "60"},
		{status: 502, code: CodeInjectedFault},
		{status: 408, code: CodeInjectedFault},
		{status: 400, code: CodeInjectedFault, shouldRetry: "false"},
		{status: 409, code: CodeInjectedFault, shouldRetry: "false"},
	}
	for _, tt := range tests {
		e := newEnv(t, envOpt{})
		req := map[string]any{"status": tt.status, "match": map[string]any{"method": "post", "path_prefix": "/client/v4/accounts/"}}
		if tt.retryAfter != nil {
			req["retry_after"] = *tt.retryAfter
		}
		f := addFault(t, e, req)
		if f.Remaining != 1 || f.Match.Method != "POST" || f.Status != tt.status {
			t.Fatalf("%d: created %+v", tt.status, f)
		}
		// Not matched: another method.
		e.must("GET", pfxPath(acctA), nil, authA, nil)
		// Matched without credentials: the fault answers before auth.
		r := e.do("POST", pfxPath(acctA), map[string]any{"cidr": v4, "asn": 13335}, noAuth)
		if r.Status != tt.status || r.code() != tt.code || r.Env.Success || len(r.Env.Errors) != 1 || string(r.Env.Result) != "null" {
			t.Fatalf("%d: answer %d %s", tt.status, r.Status, r.Raw)
		}
		if got := r.Header.Get("X-Should-Retry"); got != tt.shouldRetry {
			t.Errorf("%d: x-should-retry %q, want %q", tt.status, got, tt.shouldRetry)
		}
		if got := r.Header.Get("Retry-After"); got != tt.wantAfter {
			t.Errorf("%d: Retry-After %q, want %q", tt.status, got, tt.wantAfter)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%d: content type %q", tt.status, ct)
		}
		if fs := pendingFaults(t, e); len(fs) != 0 {
			t.Errorf("%d: a count 1 fault is still pending: %+v", tt.status, fs)
		}
		// Exhausted: the same request now runs.
		e.must("POST", pfxPath(acctA), map[string]any{"cidr": v4, "asn": 13335}, authA, nil)
		if got := e.srv.LimitStats().Faults; got != 1 {
			t.Errorf("%d: LimitStats().Faults = %d, want 1", tt.status, got)
		}
	}
}

// TestFaultMatching: method and path prefix (with or without /client/v4),
// count exhaustion, oldest first, listing, clearing, admin routes untouched,
// and no faulted request changing the state or the store.
func TestFaultMatching(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	id := e.createPrefix(v4)
	_, rev0, err := e.st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	state0 := mustJSON(e.srv.State())

	// Oldest first: the 503 on POSTs under accounts/ (2 requests), then a
	// 500 on every request under the prefix, then a catch-all 502.
	f1 := addFault(t, e, map[string]any{"match": map[string]any{"method": "POST", "path_prefix": "/client/v4/accounts/"}, "status": 503, "count": 2, "retry_after": "2s"})
	addFault(t, e, map[string]any{"match": map[string]any{"path_prefix": "/accounts/" + acctA + "/addressing/prefixes/" + id}, "status": 500, "count": 3})
	addFault(t, e, map[string]any{"status": 502})
	fs := pendingFaults(t, e)
	if len(fs) != 3 || fs[0].ID != f1.ID || fs[0].Remaining != 2 || *fs[0].RetryAfter != "2s" ||
		fs[1].Match.PathPrefix != "/client/v4/accounts/"+acctA+"/addressing/prefixes/"+id || fs[1].RetryAfter != nil || fs[2].Match != (faultMatch{}) {
		t.Fatalf("pending faults: %+v", fs)
	}

	steps := []struct {
		name, method, path string
		body               any
		status             int
		pending            []int // remaining counts of the pending faults after the request
	}{
		{"admin routes are never faulted", "GET", "/admin/v1/state", nil, 200, []int{2, 3, 1}},
		{"POST matches the first", "POST", pfxPath(acctA, id, "validate"), nil, 503, []int{1, 3, 1}},
		{"without /client/v4 too", "PATCH", "/accounts/" + acctA + "/addressing/prefixes/" + id, map[string]any{"description": "x"}, 500, []int{1, 2, 1}},
		{"POST before the second", "POST", "/accounts/" + acctA + "/addressing/prefixes", map[string]any{"cidr": "192.0.2.0/24", "asn": 13335}, 503, []int{2, 1}},
		{"DELETE under the prefix", "DELETE", pfxPath(acctA, id), nil, 500, []int{1, 1}},
		{"GET under the prefix", "GET", pfxPath(acctA, id), nil, 500, []int{1}},
		{"catch-all, even an unknown route", "GET", "/client/v4/nowhere", nil, 502, nil},
		{"nothing pending", "GET", pfxPath(acctA, id), nil, 200, nil},
	}
	for _, s := range steps {
		r := e.do(s.method, s.path, s.body, authA)
		if r.Status != s.status {
			t.Fatalf("%s: %d, want %d: %s", s.name, r.Status, s.status, r.Raw)
		}
		var got []int
		for _, f := range pendingFaults(t, e) {
			got = append(got, f.Remaining)
		}
		if mustJSON(got) != mustJSON(s.pending) {
			t.Fatalf("%s: pending counts %v, want %v", s.name, got, s.pending)
		}
	}
	if got := mustJSON(e.srv.State()); got != state0 {
		t.Errorf("faulted requests changed the state:\n%s\nwant\n%s", got, state0)
	}
	if _, rev, _ := e.st.Snapshot(t.Context()); rev != rev0 {
		t.Errorf("faulted requests wrote to the store: revision %d -> %d", rev0, rev)
	}

	// Clearing.
	addFault(t, e, map[string]any{"status": 503, "count": 5})
	addFault(t, e, map[string]any{"status": 429})
	var cleared map[string]int
	e.must("DELETE", "/admin/v1/faults", nil, noAuth, &cleared)
	if cleared["cleared"] != 2 || len(pendingFaults(t, e)) != 0 {
		t.Fatalf("cleared %v, pending %v", cleared, pendingFaults(t, e))
	}
	e.must("GET", pfxPath(acctA, id), nil, authA, nil)
	if got := e.srv.LimitStats().Faults; got != 6 {
		t.Errorf("LimitStats().Faults = %d, want 6", got)
	}
}

// TestFaultsBeforeRateLimit: a faulted request is not counted against the
// credential's rate limit (it never reaches authentication).
func TestFaultsBeforeRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{daemon: rateLimited(1, time.Minute)})
	addFault(t, e, map[string]any{"status": 503, "count": 3})
	for range 3 {
		if r := e.do("GET", pfxPath(acctA), nil, authA); r.Status != 503 {
			t.Fatalf("%d, want the fault's 503", r.Status)
		}
	}
	e.must("GET", pfxPath(acctA), nil, authA, nil)
	if r := e.do("GET", pfxPath(acctA), nil, authA); r.Status != 429 {
		t.Fatalf("%d, want 429", r.Status)
	}
}

// uploadLOA posts content as a curl -F style file part.
func uploadLOA(t *testing.T, e *env, filename string, content []byte) *resp {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, err := mw.CreateFormFile("loa_document", filename)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	mw.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.hs.URL+"/client/v4/accounts/"+acctA+"/addressing/loa_documents", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	authA(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := json.Unmarshal(raw, &out.Env); err != nil {
		t.Fatalf("not an envelope: %.300s", raw)
	}
	return out
}

func pdfOfSize(n int) []byte {
	b := bytes.Repeat([]byte{'A'}, n)
	copy(b, "%PDF-1.7\n")
	return b
}

// TestLOASizeBoundary: the largest document with the longest, worst-escaped
// filename is accepted, stored and downloaded intact; one byte more is 413,
// one filename byte more is 400; none of the rejected uploads is stored.
func TestLOASizeBoundary(t *testing.T) {
	t.Parallel()
	// The limit's premise: the stored JSON of the largest document fits
	// one store value. '<' is escaped to 6 bytes (\u003c), the worst case.
	worstName := strings.Repeat("<", config.MaxLOAFilename)
	d := config.LOADocument{ID: newID(), AccountID: acctA, Filename: worstName, SizeBytes: config.MaxLOASize,
		Content: pdfOfSize(config.MaxLOASize), Created: base}
	if b, _ := json.Marshal(d); len(b) > store.MaxValueSize {
		t.Fatalf("the largest LOA encodes to %d bytes, more than store.MaxValueSize %d", len(b), store.MaxValueSize)
	}

	e := newEnv(t, envOpt{})
	tests := []struct {
		name     string
		filename string
		size     int
		status   int
		code     Code
	}{
		{"largest, longest filename", worstName, config.MaxLOASize, 200, 0},
		{"one byte too large", "big.pdf", config.MaxLOASize + 1, 413, CodeLOATooLarge},
		{"filename one byte too long", worstName + "<", 100, 400, CodeLOAFilename},
	}
	for _, tt := range tests {
		content := pdfOfSize(tt.size)
		r := uploadLOA(t, e, tt.filename, content)
		if r.Status != tt.status || r.code() != tt.code {
			t.Fatalf("%s: %d code %d, want %d code %d: %.300s", tt.name, r.Status, r.code(), tt.status, tt.code, r.Raw)
		}
		if tt.status != 200 {
			continue
		}
		var v loaView
		r.into(t, &v)
		if v.SizeBytes != int64(tt.size) || v.Filename != tt.filename {
			t.Fatalf("%s: stored %+v", tt.name, v)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.hs.URL+"/client/v4/accounts/"+acctA+"/addressing/loa_documents/"+v.ID+"/download", nil)
		authA(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !bytes.Equal(got, content) {
			t.Fatalf("%s: downloaded %d bytes, want the %d uploaded", tt.name, len(got), len(content))
		}
	}
	if n := len(e.srv.State().LOADocuments); n != 1 {
		t.Errorf("%d LOA documents stored, want 1", n)
	}
}

// TestGoldenLimits records the responses of the rate limit, the fault
// admin API and an injected fault.
func TestGoldenLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{daemon: rateLimited(1, time.Minute)})
	n := newNormalizer()
	g := func(name, method, path string, body any, a auth) *resp {
		t.Helper()
		r := e.do(method, path, body, a)
		checkGolden(t, n, name, r)
		return r
	}
	e.must("GET", pfxPath(acctA), nil, authA, nil)
	g("error_rate_limited", "GET", pfxPath(acctA), nil, authA)
	g("fault_create", "POST", "/admin/v1/faults", map[string]any{"match": map[string]any{"method": "POST", "path_prefix": "/client/v4/accounts/"}, "status": 503, "count": 2, "retry_after": "2s"}, noAuth)
	g("faults_list", "GET", "/admin/v1/faults", nil, noAuth)
	g("error_injected_fault", "POST", pfxPath(acctB), map[string]any{"cidr": v4, "asn": 13335}, authB)
	g("faults_clear", "DELETE", "/admin/v1/faults", nil, noAuth)
}
