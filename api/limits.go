package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgesim/edgesim/config"
)

// rateLimitMsg is the message Cloudflare's API sends with code 971.
const rateLimitMsg = "Please wait and consider throttling your request speed"

// rateLimiter counts authenticated requests per credential in fixed windows
// on the control-plane clock: a credential's window starts at its first
// request after the previous one ended; once it holds limit requests, the
// rest of the window is answered 429. Rejected requests are not counted.
// The zero limit is off. Safe for concurrent use.
type rateLimiter struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	windows map[*config.Credential]*rateWindow // keyed by the daemon config's credential; bounded by it
}

type rateWindow struct {
	start time.Time
	n     int
}

func newRateLimiter(rl config.RateLimit) *rateLimiter {
	return &rateLimiter{limit: max(rl.Requests, 0), window: rl.WindowOrDefault(), windows: map[*config.Credential]*rateWindow{}}
}

// allow counts a request of cred at now. It sets the Ratelimit and
// Ratelimit-Policy headers Cloudflare documents on h and, when the window
// is full, Retry-After, and returns the 429 error.
func (l *rateLimiter) allow(cred *config.Credential, now time.Time, h http.Header) error {
	if l.limit == 0 {
		return nil
	}
	l.mu.Lock()
	w := l.windows[cred]
	if w == nil || !now.Before(w.start.Add(l.window)) {
		w = &rateWindow{start: now}
		l.windows[cred] = w
	}
	full := w.n >= l.limit
	if !full {
		w.n++
	}
	remaining, reset := l.limit-w.n, w.start.Add(l.window).Sub(now)
	l.mu.Unlock()
	secs := ceilSeconds(reset)
	h.Set("Ratelimit", fmt.Sprintf(`"default";r=%d;t=%d`, remaining, secs))
	h.Set("Ratelimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, l.limit, ceilSeconds(l.window)))
	if !full {
		return nil
	}
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	return errorf(http.StatusTooManyRequests, CodeRateLimited, rateLimitMsg)
}

// ceilSeconds is d in whole seconds, rounded up (Retry-After's unit).
func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// LimitStats counts the requests the API refused before running them.
// Both counters only grow (Prometheus counters).
type LimitStats struct {
	// RateLimited is how many requests were answered 429 because their
	// credential was over api.rate_limit.
	RateLimited int64
	// Faults is how many requests an injected fault answered.
	Faults int64
}

// LimitStats returns the counters of the rate limit and injected faults.
func (s *Server) LimitStats() LimitStats {
	return LimitStats{RateLimited: s.rateLimited.Load(), Faults: s.faultsHit.Load()}
}

// fault is an injected failure: the next Remaining API requests that match
// are answered with Status before any routing, authentication or handler
// logic, so they never change state.
type fault struct {
	ID         string     `json:"id"`
	Match      faultMatch `json:"match"`
	Status     int        `json:"status"`
	Remaining  int        `json:"remaining"`
	RetryAfter *string    `json:"retry_after"` // a Go duration; null: no Retry-After (1s for 429 and 503)
	Created    time.Time  `json:"created"`

	retryAfter time.Duration // parsed RetryAfter; -1 when none is sent
}

type faultMatch struct {
	Method     string `json:"method"`      // "" matches every method
	PathPrefix string `json:"path_prefix"` // under /client/v4; "" matches every API path
}

// faultReq is the body of POST /admin/v1/faults.
type faultReq struct {
	Match *struct {
		Method     *string `json:"method"`
		PathPrefix *string `json:"path_prefix"`
	} `json:"match"`
	Status     *int    `json:"status"`
	Count      *int    `json:"count"`
	RetryAfter *string `json:"retry_after"`
}

// maxFaultCount bounds one fault's count; maxFaults the pending faults.
const (
	maxFaultCount = 1_000_000
	maxFaults     = 1000
)

// apiPath returns the request path as it looks under /client/v4 (the same
// routes are served at /).
func apiPath(p string) string {
	if p == "/client/v4" || strings.HasPrefix(p, "/client/v4/") {
		return p
	}
	return "/client/v4" + p
}

func badFault(format string, args ...any) error {
	return errorf(http.StatusBadRequest, CodeAdminBadFault, format, args...)
}

// addFault registers a fault: {"match": {"method", "path_prefix"},
// "status", "count" (default 1), "retry_after"}.
func (s *Server) addFault(c *call) (any, error) {
	var req faultReq
	if err := decodeBody(c, &req); err != nil {
		return nil, err
	}
	if req.Status == nil {
		return nil, missing("status")
	}
	f := &fault{ID: newID(), Status: *req.Status, Remaining: 1, Created: s.clock.Now().UTC(), retryAfter: -1}
	if f.Status < 400 || f.Status > 599 {
		return nil, badFault("status %d is not an HTTP error status (400-599)", f.Status)
	}
	if req.Count != nil {
		f.Remaining = *req.Count
	}
	if f.Remaining < 1 || f.Remaining > maxFaultCount {
		return nil, badFault("count %d is not between 1 and %d", f.Remaining, maxFaultCount)
	}
	if req.Match != nil {
		if m := req.Match.Method; m != nil {
			f.Match.Method = strings.ToUpper(*m)
			if strings.ContainsAny(f.Match.Method, " \t/") {
				return nil, badFault("method %q is not an HTTP method", *m)
			}
		}
		if p := req.Match.PathPrefix; p != nil && *p != "" {
			if !strings.HasPrefix(*p, "/") || strings.HasPrefix(*p, "/admin/") {
				return nil, badFault("path_prefix %q must be an API path starting with / (admin routes are never faulted)", *p)
			}
			f.Match.PathPrefix = apiPath(*p)
		}
	}
	switch {
	case req.RetryAfter != nil:
		d, err := time.ParseDuration(*req.RetryAfter)
		if err != nil || d < 0 {
			return nil, badFault("retry_after %q is not a non-negative Go duration such as \"2s\"", *req.RetryAfter)
		}
		f.retryAfter = d
	case f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable:
		f.retryAfter = time.Second
	}
	if f.retryAfter >= 0 {
		ra := f.retryAfter.String()
		f.RetryAfter = &ra
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if len(s.faults) >= maxFaults {
		return nil, badFault("%d faults are pending; clear them first", len(s.faults))
	}
	s.faults = append(s.faults, f)
	s.log.Info("fault injected", "id", f.ID, "method", f.Match.Method, "path_prefix", f.Match.PathPrefix, "status", f.Status, "count", f.Remaining)
	cp := *f
	return cp, nil
}

// listFaults returns the pending faults, oldest first.
func (s *Server) listFaults(c *call) (any, error) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := make([]fault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	return newList(out), nil
}

// clearFaults drops every pending fault.
func (s *Server) clearFaults(c *call) (any, error) {
	s.faultMu.Lock()
	n := len(s.faults)
	s.faults = nil
	s.faultMu.Unlock()
	return map[string]int{"cleared": n}, nil
}

// takeFault consumes one request of the oldest pending fault that matches r
// and returns a copy of it; ok is false when none matches.
func (s *Server) takeFault(r *http.Request) (f fault, ok bool) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if len(s.faults) == 0 {
		return fault{}, false
	}
	path := apiPath(r.URL.Path)
	for i, pf := range s.faults {
		if (pf.Match.Method == "" || pf.Match.Method == r.Method) && strings.HasPrefix(path, pf.Match.PathPrefix) {
			pf.Remaining--
			f = *pf
			if pf.Remaining == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f, true
		}
	}
	return fault{}, false
}

// writeFault answers a request with an injected fault: the error envelope,
// Retry-After when the fault has one, and x-should-retry as for any error
// of that status (writeError).
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f fault) {
	s.faultsHit.Add(1)
	if f.retryAfter >= 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(f.retryAfter), 10))
	}
	s.log.Debug("request answered by an injected fault", "id", f.ID, "method", r.Method, "path", r.URL.Path, "status", f.Status, "remaining", f.Remaining)
	if f.Status == http.StatusTooManyRequests {
		s.writeError(w, r, errorf(f.Status, CodeRateLimited, rateLimitMsg))
		return
	}
	s.writeError(w, r, errorf(f.Status, CodeInjectedFault, "injected fault: %d %s", f.Status, strings.ToLower(http.StatusText(f.Status))))
}
