package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeEdged answers the admin endpoints edgectl calls with canned envelopes.
func fakeEdged(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	reply := func(result string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":` + result + `}`))
		}
	}
	mux.HandleFunc("GET /admin/v1/lookup/203.0.113.18", reply(`{"ip":"203.0.113.18","matched":true,"route":"203.0.113.16/29",
		"binding":{"CIDR":"203.0.113.16/29","Service":"Spectrum","BindingID":"b1","PrefixID":"p1","AccountID":"a1","State":"active"},
		"announced":"203.0.113.0/24","served":true,"generation":7}`))
	mux.HandleFunc("GET /admin/v1/lookup/192.0.2.1", reply(`{"ip":"192.0.2.1","matched":false,"served":false,"generation":7}`))
	mux.HandleFunc("POST /admin/v1/clock/fast-forward", reply(`{"now":"2026-11-29T16:00:00Z","offset":"5h0m0s"}`))
	mux.HandleFunc("GET /admin/v1/lookup/2001:db8::1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(500)
		w.Write([]byte(`{"success":false,"errors":[{"code":1000,"message":"internal error"}],"messages":[],"result":null}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestEdgectl(t *testing.T) {
	t.Parallel()
	srv := fakeEdged(t)
	tests := []struct {
		args     []string
		code     int
		contains []string
	}{
		{[]string{"lookup", "203.0.113.18"}, 0, []string{"203.0.113.16/29", "Spectrum", "announced      203.0.113.0/24", "served         true"}},
		{[]string{"lookup", "192.0.2.1"}, 0, []string{"no binding covers it"}},
		{[]string{"lookup", "2001:db8::1"}, 1, []string{"HTTP 500", "internal error (code 1000)"}},
		{[]string{"lookup", "not-an-ip"}, 1, []string{`not an IP address: "not-an-ip"`}},
		{[]string{"fast-forward", "5h"}, 0, []string{"clock now 2026-11-29T16:00:00Z (fast-forwarded 5h0m0s in all)"}},
		{[]string{"fast-forward", "soon"}, 1, []string{"not a duration"}},
		{[]string{"frobnicate"}, 2, []string{"unknown command", "Commands:"}},
		{[]string{"lookup"}, 2, []string{"wrong arguments"}},
		{[]string{"-o", "yaml", "status"}, 2, []string{"-o must be table or json"}},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-api", srv.URL}, tt.args...), &out, &errOut)
		all := out.String() + errOut.String()
		if code != tt.code {
			t.Errorf("edgectl %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, all)
		}
		for _, want := range tt.contains {
			if !strings.Contains(all, want) {
				t.Errorf("edgectl %s: output lacks %q:\n%s", strings.Join(tt.args, " "), want, all)
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"-api", srv.URL, "-o", "json", "lookup", "203.0.113.18"}, &out, &out); code != 0 {
		t.Fatalf("-o json lookup: exit %d\n%s", code, out.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["served"] != true {
		t.Errorf("-o json lookup: %v, %v", v, err)
	}
}

func TestEdgectlNoServer(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"-api", "http://127.0.0.1:1", "status"}, &out, &out); code != 1 || !strings.Contains(out.String(), "is edged running?") {
		t.Errorf("status without edged: exit %d\n%s", code, out.String())
	}
}
