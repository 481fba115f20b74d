package api

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/edgesim/edgesim/config"
)

// maxBody is the largest request body accepted.
const maxBody = 1 << 20

// envelope is Cloudflare's response wrapper.
type envelope struct {
	Success    bool        `json:"success"`
	Errors     []message   `json:"errors"`
	Messages   []message   `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

type message struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// list marks a handler result as a complete, single-page list; the envelope
// then carries result_info.
type list struct {
	items any
	n     int
}

func newList[T any](items []T) list {
	if items == nil {
		items = []T{}
	}
	return list{items: items, n: len(items)}
}

// page is one page of a paginated list; the envelope carries info.
type page struct {
	items any
	info  resultInfo
}

// rawBody is a successful answer that is not an envelope (the LOA
// download); errors are still envelopes.
type rawBody struct {
	contentType string
	data        []byte
}

// withMessages adds messages (warnings) to a successful result.
type withMessages struct {
	result any
	msgs   []message
}

// access is what a route needs from a credential.
type access int

const (
	accessNone     access = iota // admin routes: no Cloudflare credential
	accessRead                   // IP Prefixes: Read (or Write)
	accessWrite                  // IP Prefixes: Write
	accessValidate               // IP Prefixes: Write or Magic Transit Write
	accessBGP                    // IP Prefixes: Write or IP Prefixes: BGP On Demand Write
)

func (a access) permits(c *config.Credential) bool {
	if c.Token == "" { // a global API key holds every permission
		return true
	}
	has := func(perms ...string) bool {
		for _, p := range perms {
			if slices.Contains(c.Permissions, p) {
				return true
			}
		}
		return false
	}
	switch a {
	case accessRead:
		return has(config.PermPrefixesRead, config.PermPrefixesWrite)
	case accessWrite:
		return has(config.PermPrefixesWrite)
	case accessValidate:
		return has(config.PermPrefixesWrite, config.PermMagicTransitWrite)
	case accessBGP:
		return has(config.PermPrefixesWrite, config.PermBGPOnDemandWrite)
	}
	return false
}

// call is one matched request.
type call struct {
	r       *http.Request
	params  map[string]string
	account string // the path's account_id (or the zone's account), checked against the credential
	zone    config.Zone
	cred    *config.Credential // the authorized credential (nil on admin routes)
}

func (c *call) param(name string) string { return c.params[name] }

type handlerFunc func(c *call) (any, error)

type route struct {
	method string
	segs   []string // literal segments, or "{name}" for a parameter
	access access
	h      handlerFunc
}

type router struct {
	api, admin []route
}

func (rt *router) add(table *[]route, method, pattern string, a access, h handlerFunc) {
	*table = append(*table, route{method: method, segs: strings.Split(strings.Trim(pattern, "/"), "/"), access: a, h: h})
}

// match finds the route for method and segs. It returns the route, its
// parameters, and the methods that would have matched the path (for 405).
func match(table []route, method string, segs []string) (*route, map[string]string, []string) {
	var allowed []string
	for i := range table {
		rt := &table[i]
		if len(rt.segs) != len(segs) {
			continue
		}
		var params map[string]string
		ok := true
		for j, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				if segs[j] == "" {
					ok = false
					break
				}
				if params == nil {
					params = map[string]string{}
				}
				params[s[1:len(s)-1]] = segs[j]
				continue
			}
			if s != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, params, nil
		}
		allowed = append(allowed, rt.method)
	}
	return nil, nil, allowed
}

// ServeHTTP routes a request: /admin/v1/... to the admin table, anything
// else (with or without the /client/v4 prefix) to the API table.
func (s *Server) serveHTTP(rt *router, w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.writeError(w, r, fmt.Errorf("panic serving %s %s: %v", r.Method, r.URL.Path, v))
		}
	}()
	path := r.URL.Path
	table := rt.api
	if rest, ok := strings.CutPrefix(path, "/admin/v1/"); ok {
		table, path = rt.admin, rest
	} else {
		// An injected fault answers before anything else runs, so it
		// never half-applies a change; admin routes are never faulted.
		if f, ok := s.takeFault(r); ok {
			s.writeFault(w, r, f)
			return
		}
		if rest, ok := strings.CutPrefix(path, "/client/v4/"); ok {
			path = rest
		}
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	route, params, allowed := match(table, r.Method, segs)
	if route == nil {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method %s not allowed for that uri", r.Method))
			return
		}
		s.writeError(w, r, errorf(http.StatusNotFound, CodeNoRoute, "No route for that URI"))
		return
	}
	res, err := s.runHandler(w.Header(), r, route, params)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rb, ok := res.(rawBody); ok {
		w.Header().Set("Content-Type", rb.contentType)
		w.Header().Set("Content-Length", fmt.Sprint(len(rb.data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(rb.data)
		return
	}
	env := envelope{Success: true, Errors: []message{}, Messages: []message{}, Result: res}
	if wm, ok := res.(withMessages); ok {
		env.Result, env.Messages, res = wm.result, wm.msgs, wm.result
	}
	switch l := res.(type) {
	case list:
		env.Result = l.items
		env.ResultInfo = &resultInfo{Page: 1, PerPage: max(l.n, 1), Count: l.n, TotalCount: l.n, TotalPages: 1}
	case page:
		env.Result = l.items
		env.ResultInfo = &l.info
	}
	writeEnvelope(w, http.StatusOK, env)
}

// maxAttempts bounds how often a request runs when its commit meets a store
// that others moved meanwhile (errStale): each attempt reloaded the view, so
// more than a few means a hot spot of concurrent writers.
const maxAttempts = 5

// runHandler authenticates the request, counts it against the
// credential's rate limit (h gets the rate-limit headers), authorizes the
// call and runs the route's handler. When the handler's commit found the
// store moved by another writer (errStale; the view is reloaded by then),
// authorization and handler run again from the start with the request body
// replayed, so that every check sees the other writer's objects: a
// conflicting write is then answered as it would be on one node. A re-run
// is not counted again.
func (s *Server) runHandler(h http.Header, r *http.Request, route *route, params map[string]string) (any, error) {
	var cred *config.Credential
	if route.access != accessNone {
		var err error
		if cred, err = s.authenticate(r); err != nil {
			return nil, err
		}
		if err := s.limiter.allow(cred, s.clock.Now(), h); err != nil {
			s.rateLimited.Add(1)
			return nil, err
		}
	}
	body := newReplayBody(r.Body)
	r = r.WithContext(r.Context()) // a shallow copy whose Body may be replaced
	r.Body = body
	for attempt := 1; ; attempt++ {
		c := &call{r: r, params: params}
		if route.access != accessNone {
			if err := s.authorize(c, cred, route.access); err != nil {
				return nil, err
			}
		}
		res, err := route.h(c)
		if !errors.Is(err, errStale) || attempt == maxAttempts || r.Context().Err() != nil {
			return res, err
		}
		s.log.Debug("re-running a request against the reloaded state", "method", r.Method, "path", r.URL.Path, "attempt", attempt+1)
		body.rewind()
	}
}

// replayBody is a request body that can be read again from the start: what
// the handler read is kept, and a rewound body reads it before the rest.
type replayBody struct {
	src  io.Reader    // the original body, teed into read
	read bytes.Buffer // everything read from the original so far
	cur  io.Reader
}

func newReplayBody(orig io.Reader) *replayBody {
	if orig == nil {
		orig = http.NoBody
	}
	b := &replayBody{}
	b.src = io.TeeReader(orig, &b.read)
	b.cur = b.src
	return b
}

func (b *replayBody) Read(p []byte) (int, error) { return b.cur.Read(p) }

// Close is a no-op: the server closes the original body.
func (b *replayBody) Close() error { return nil }

// rewind restarts reading from the first byte. Appending to b.read never
// changes the bytes already in it, so the reader over them stays valid.
func (b *replayBody) rewind() {
	b.cur = io.MultiReader(bytes.NewReader(b.read.Bytes()), b.src)
}

// authenticate finds the request's credential. Bearer wins when both
// schemes are present.
func (s *Server) authenticate(r *http.Request) (*config.Credential, error) {
	var cred *config.Credential
	authz := r.Header.Get("Authorization")
	email, key := r.Header.Get("X-Auth-Email"), r.Header.Get("X-Auth-Key")
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	switch {
	case strings.EqualFold(scheme, "Bearer") && token != "":
		cred = s.findCredential(func(cr *config.Credential) bool {
			return cr.Token != "" && subtle.ConstantTimeCompare([]byte(cr.Token), []byte(token)) == 1
		})
	case email != "" && key != "":
		cred = s.findCredential(func(cr *config.Credential) bool {
			return cr.Key != "" && subtle.ConstantTimeCompare([]byte(cr.Key), []byte(key)) == 1 &&
				strings.EqualFold(cr.Email, email)
		})
	case authz != "":
		return nil, errorf(http.StatusBadRequest, CodeBadHeaders, "Invalid request headers")
	default:
		return nil, errorf(http.StatusBadRequest, CodeMissingAuth, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
	}
	if cred == nil {
		return nil, errorf(http.StatusForbidden, CodeAuth, "Authentication error")
	}
	return cred, nil
}

// authorize checks the account and zone the authenticated credential may
// reach and the permission the route needs.
func (s *Server) authorize(c *call, cred *config.Credential, a access) error {
	if acct, ok := c.params["account_id"]; ok {
		if !slices.Contains(cred.Accounts, acct) {
			return notFound("/accounts/%s", acct)
		}
		c.account = acct
	}
	c.cred = cred
	if id, ok := c.params["zone_id"]; ok {
		s.mu.RLock()
		z, ok := s.zoneLocked(id)
		s.mu.RUnlock()
		if !ok || !slices.Contains(cred.Accounts, z.AccountID) {
			return notFound("zone %s", id)
		}
		c.zone, c.account = z, z.AccountID
	}
	if !a.permits(cred) {
		return errorf(http.StatusForbidden, CodeForbidden, "Unauthorized to access requested resource")
	}
	return nil
}

func (s *Server) findCredential(ok func(*config.Credential) bool) *config.Credential {
	var found *config.Credential
	for i := range s.daemon.Credentials {
		// No early exit: the comparison time does not depend on which credential matched.
		if cr := &s.daemon.Credentials[i]; ok(cr) && found == nil {
			found = cr
		}
	}
	return found
}

// writeError is the one place that turns an error into a status and an
// envelope. *apiError and *config.RuleError are shown to the client; any
// other error is logged and answered with 500 CodeInternal.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var re *config.RuleError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &re):
		rc, ok := ruleCodes[re.Rule]
		if !ok {
			rc.status, rc.code = http.StatusBadRequest, CodeInternal
			s.log.Error("rule without a code", "rule", re.Rule)
		}
		ae = &apiError{Status: rc.status, Code: rc.code, Msg: re.Msg}
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, CodeInternal, "internal server error")
	}
	if ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusRequestTimeout && ae.Status != http.StatusTooManyRequests {
		// Every other 4xx is deterministic: retrying cannot help. A 408 or
		// 429 (rate limit, injected faults) and every 5xx carry no
		// x-should-retry, so clients retry them by status, as with the
		// real API.
		w.Header().Set("X-Should-Retry", "false")
	}
	writeEnvelope(w, ae.Status, envelope{
		Errors:   []message{{Code: ae.Code, Message: ae.Msg}},
		Messages: []message{},
	})
}

func writeEnvelope(w http.ResponseWriter, status int, env envelope) {
	b, err := json.Marshal(env)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"success":false,"errors":[{"code":1000,"message":"internal server error"}],"messages":[],"result":null}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeBody reads a JSON object into dst strictly: at most 1 MiB, no
// unknown fields (at any depth), no trailing data. An empty body counts as {}.
func decodeBody(c *call, dst any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSON(body, dst)
}

// readBody reads at most 1 MiB of the request body.
func readBody(c *call) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, CodeBadJSON, "reading request body: %v", err)
	}
	if len(body) > maxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "request body is larger than %d bytes", maxBody)
	}
	return body, nil
}

func decodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body is not valid json")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body has data after the json value")
	}
	if err := checkFields(raw, reflect.TypeOf(dst), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return errorf(http.StatusBadRequest, CodeFieldType, "request body must be a json object")
			}
			return errorf(http.StatusBadRequest, CodeFieldType, "field %q must be a json %s", te.Field, jsonKind(te.Type))
		}
		return errorf(http.StatusBadRequest, CodeBadJSON, "request body is not valid json")
	}
	return nil
}

func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.Kind().String()
}

// checkFields rejects object keys that name no field of t (exact, case
// sensitive match of the json tag). Type mismatches are left to
// json.Unmarshal.
func checkFields(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	obj, ok := v.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	for k, val := range obj {
		f, ok := fieldByTag(t, k)
		if !ok {
			return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %q", path+k)
		}
		if err := checkFields(val, f.Type, path+k+"."); err != nil {
			return err
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name && tag != "-" && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func missing(field string) error {
	return errorf(http.StatusBadRequest, CodeMissingField, "field %q is required", field)
}
