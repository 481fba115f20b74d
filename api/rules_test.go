package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgesim/edgesim/config"
)

type req struct {
	method, path string
	body         any
	auth         auth
}

func post(path string, body any) req  { return req{"POST", path, body, authA} }
func patch(path string, body any) req { return req{"PATCH", path, body, authA} }
func delReq(path string) req          { return req{"DELETE", path, nil, authA} }

const v4 = "203.0.113.0/24"

// TestRules drives every rule of notes §C through the HTTP API and checks
// the status and the numeric code (never the message).
func TestRules(t *testing.T) {
	t.Parallel()
	slowTiming := func(d *config.Daemon) {
		d.Timing.ReadyAfter = dur(5 * time.Hour)
		d.Timing.MinToggleInterval = dur(15 * time.Minute)
		d.Timing.TimeFactor = nil
	}
	tests := []struct {
		name   string
		daemon func(*config.Daemon)
		setup  func(e *env) req
		status int
		code   Code
	}{
		// Prefix creation.
		{name: "prefix ok v4", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 13335}) }, status: 200},
		{name: "prefix ok v6 /48", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "2001:db8::/48", "asn": 13335}) }, status: 200},
		{name: "prefix ok max asn", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 4294967295}) }, status: 200},
		{name: "prefix cidr invalid", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "nope", "asn": 1}) }, status: 400, code: CodeCIDRInvalid},
		{name: "prefix cidr zone", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "fe80::%eth0/64", "asn": 1}) }, status: 400, code: CodeCIDRInvalid},
		{name: "prefix cidr host bits", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "203.0.113.1/24", "asn": 1}) }, status: 400, code: CodeCIDRNotCanonical},
		{name: "prefix v4 /25", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "203.0.113.0/25", "asn": 1}) }, status: 400, code: CodeCIDRTooSpecific},
		{name: "prefix v6 /49", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": "2001:db8::/49", "asn": 1}) }, status: 400, code: CodeCIDRTooSpecific},
		{name: "prefix asn 0", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 0}) }, status: 400, code: CodeASNInvalid},
		{name: "prefix asn too big", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 4294967296}) }, status: 400, code: CodeASNInvalid},
		{name: "prefix asn negative", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": -5}) }, status: 400, code: CodeASNInvalid},
		{name: "prefix asn float", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":"203.0.113.0/24","asn":1.5}`) }, status: 400, code: CodeFieldType},
		{name: "prefix missing cidr", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"asn": 1}) }, status: 400, code: CodeMissingField},
		{name: "prefix null cidr", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":null,"asn":1}`) }, status: 400, code: CodeMissingField},
		{name: "prefix missing asn", setup: func(e *env) req { return post(pfxPath(acctA), map[string]any{"cidr": v4}) }, status: 400, code: CodeMissingField},
		{name: "prefix empty body", setup: func(e *env) req { return post(pfxPath(acctA), nil) }, status: 400, code: CodeMissingField},
		{name: "prefix description 1000", setup: func(e *env) req {
			return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 1, "description": strings.Repeat("é", 1000)})
		}, status: 200},
		{name: "prefix description 1001", setup: func(e *env) req {
			return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 1, "description": strings.Repeat("x", 1001)})
		}, status: 400, code: CodeDescriptionTooLong},
		{name: "prefix overlaps other account", setup: func(e *env) req {
			e.must("POST", pfxPath(acctB), map[string]any{"cidr": v4, "asn": 1}, authB, nil)
			return post(pfxPath(acctA), map[string]any{"cidr": "203.0.112.0/23", "asn": 1})
		}, status: 409, code: CodePrefixOverlapForeign},
		{name: "prefix duplicate", setup: func(e *env) req {
			e.createPrefix(v4)
			return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 1})
		}, status: 409, code: CodePrefixOverlapOwn},
		{name: "prefix overlaps own", setup: func(e *env) req {
			e.createPrefix("203.0.112.0/23")
			return post(pfxPath(acctA), map[string]any{"cidr": v4, "asn": 1})
		}, status: 409, code: CodePrefixOverlapOwn},
		// Body decoding.
		{name: "body unknown field", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":"203.0.113.0/24","asn":1,"colour":"red"}`) }, status: 400, code: CodeUnknownField},
		{name: "body wrong case field", setup: func(e *env) req { return post(pfxPath(acctA), `{"CIDR":"203.0.113.0/24","asn":1}`) }, status: 400, code: CodeUnknownField},
		{name: "body bad json", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":`) }, status: 400, code: CodeBadJSON},
		{name: "body trailing data", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":"203.0.113.0/24","asn":1} {}`) }, status: 400, code: CodeBadJSON},
		{name: "body array", setup: func(e *env) req { return post(pfxPath(acctA), `[1,2]`) }, status: 400, code: CodeFieldType},
		{name: "body wrong type", setup: func(e *env) req { return post(pfxPath(acctA), `{"cidr":24,"asn":1}`) }, status: 400, code: CodeFieldType},
		{name: "body too large", setup: func(e *env) req {
			return post(pfxPath(acctA), `{"description":"`+strings.Repeat("x", maxBody)+`"}`)
		}, status: 413, code: CodeBodyTooLarge},
		{name: "nested unknown field", setup: func(e *env) req {
			_, bgp := e.withDefault(v4)
			return patch(pfxPath(acctA, e.onlyPrefix(), "bgp", "prefixes", bgp), `{"on_demand":{"advertised":true,"x":1}}`)
		}, status: 400, code: CodeUnknownField},
		// Prefix edit and delete.
		{name: "patch description", setup: func(e *env) req {
			return patch(pfxPath(acctA, e.createPrefix(v4)), map[string]any{"description": "new"})
		}, status: 200},
		{name: "patch no description", setup: func(e *env) req { return patch(pfxPath(acctA, e.createPrefix(v4)), map[string]any{}) }, status: 400, code: CodeMissingField},
		{name: "patch description too long", setup: func(e *env) req {
			return patch(pfxPath(acctA, e.createPrefix(v4)), map[string]any{"description": strings.Repeat("x", 1001)})
		}, status: 400, code: CodeDescriptionTooLong},
		{name: "patch cidr unknown", setup: func(e *env) req {
			return patch(pfxPath(acctA, e.createPrefix(v4)), map[string]any{"cidr": v4})
		}, status: 400, code: CodeUnknownField},
		{name: "delete unapproved", setup: func(e *env) req { return delReq(pfxPath(acctA, e.createPrefix(v4))) }, status: 200},
		{name: "delete approved", setup: func(e *env) req { return delReq(pfxPath(acctA, e.approvedPrefix(v4))) }, status: 409, code: CodePrefixApproved},
		{name: "get unknown prefix", setup: func(e *env) req { return req{"GET", pfxPath(acctA, newID()), nil, authA} }, status: 404, code: CodeNotFound},
		{name: "get deleted prefix", setup: func(e *env) req {
			id := e.createPrefix(v4)
			e.must("DELETE", pfxPath(acctA, id), nil, authA, nil)
			return req{"GET", pfxPath(acctA, id), nil, authA}
		}, status: 404, code: CodeNotFound},
		{name: "validate unknown prefix", setup: func(e *env) req { return post(pfxPath(acctA, newID(), "validate"), nil) }, status: 404, code: CodeNotFound},
		// Delegations.
		{name: "delegation ok", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB})
		}, status: 200},
		{name: "delegation whole prefix", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": v4, "delegated_account_id": acctB})
		}, status: 200},
		{name: "delegation unapproved", setup: func(e *env) req {
			return post(pfxPath(acctA, e.createPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB})
		}, status: 400, code: CodePrefixNotApproved},
		{name: "delegation outside", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "198.51.100.1/32", "delegated_account_id": acctB})
		}, status: 400, code: CodeDelegationOutside},
		{name: "delegation larger than prefix", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.112.0/23", "delegated_account_id": acctB})
		}, status: 400, code: CodeDelegationOutside},
		{name: "delegation to owner", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctA})
		}, status: 400, code: CodeDelegationToOwner},
		{name: "delegation unknown account", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctGhost})
		}, status: 400, code: CodeDelegationUnknownAccount},
		{name: "delegation overlap", setup: func(e *env) req {
			id := e.approvedPrefix(v4)
			e.must("POST", pfxPath(acctA, id, "delegations"), map[string]any{"cidr": "203.0.113.16/30", "delegated_account_id": acctB}, authA, nil)
			return post(pfxPath(acctA, id, "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB})
		}, status: 409, code: CodeDelegationOverlap},
		{name: "delegation missing account", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "delegations"), map[string]any{"cidr": "203.0.113.18/32"})
		}, status: 400, code: CodeMissingField},
		{name: "delegation delete unknown", setup: func(e *env) req { return delReq(pfxPath(acctA, e.approvedPrefix(v4), "delegations", newID())) }, status: 404, code: CodeNotFound},
		// Service bindings.
		{name: "binding unapproved", setup: func(e *env) req {
			return post(pfxPath(acctA, e.createPrefix(v4), "bindings"), map[string]any{"cidr": v4, "service_id": svcCDN})
		}, status: 400, code: CodePrefixNotApproved},
		{name: "binding first not prefix", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcCDN})
		}, status: 400, code: CodeBindingFirstNotPrefix},
		{name: "binding default magic transit", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "bindings"), map[string]any{"cidr": v4, "service_id": svcMT})
		}, status: 200},
		{name: "binding magic transit not default", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcMT})
		}, status: 400, code: CodeMagicTransitNotDefault},
		{name: "binding outside", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "198.51.100.0/29", "service_id": svcCDN})
		}, status: 400, code: CodeBindingOutside},
		{name: "binding other family", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "2001:db8::/64", "service_id": svcCDN})
		}, status: 400, code: CodeBindingOutside},
		{name: "binding duplicate default", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": v4, "service_id": svcSpectrum})
		}, status: 409, code: CodeBindingDuplicate},
		{name: "binding duplicate specific", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			e.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA, nil)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcCDN})
		}, status: 409, code: CodeBindingDuplicate},
		{name: "binding nested specific", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			e.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA, nil)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.18/32", "service_id": svcCDN})
		}, status: 200},
		{name: "binding unknown service", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "bindings"), map[string]any{"cidr": v4, "service_id": newID()})
		}, status: 400, code: CodeUnknownService},
		{name: "binding host bits", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.17/29", "service_id": svcCDN})
		}, status: 400, code: CodeCIDRNotCanonical},
		{name: "binding delete default with children", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			e.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA, nil)
			return delReq(pfxPath(acctA, id, "bindings", e.bindingID(id, v4)))
		}, status: 409, code: CodeDefaultBindingInUse},
		{name: "binding delete default advertised", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.must("PATCH", pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
			return delReq(pfxPath(acctA, id, "bindings", e.bindingID(id, v4)))
		}, status: 409, code: CodeDefaultBindingAdvertised},
		{name: "binding delete default withdrawing", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			path := pfxPath(acctA, id, "bgp", "prefixes", bgp)
			e.must("PATCH", path, map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
			e.must("PATCH", path, map[string]any{"on_demand": map[string]any{"advertised": false}}, authA, nil)
			return delReq(pfxPath(acctA, id, "bindings", e.bindingID(id, v4)))
		}, status: 409, code: CodeDefaultBindingAdvertised},
		{name: "binding get unknown", setup: func(e *env) req {
			return req{"GET", pfxPath(acctA, e.approvedPrefix(v4), "bindings", newID()), nil, authA}
		}, status: 404, code: CodeNotFound},
		// BGP prefixes.
		{name: "bgp create more specific", setup: func(e *env) req {
			id, _ := e.withDefault("203.0.112.0/23")
			return post(pfxPath(acctA, id, "bgp", "prefixes"), map[string]any{"cidr": v4})
		}, status: 200},
		{name: "bgp create unapproved", setup: func(e *env) req {
			return post(pfxPath(acctA, e.createPrefix(v4), "bgp", "prefixes"), map[string]any{"cidr": v4})
		}, status: 400, code: CodePrefixNotApproved},
		{name: "bgp create outside", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "bgp", "prefixes"), map[string]any{"cidr": "198.51.100.0/24"})
		}, status: 400, code: CodeBGPPrefixOutside},
		{name: "bgp create too specific", setup: func(e *env) req {
			return post(pfxPath(acctA, e.approvedPrefix(v4), "bgp", "prefixes"), map[string]any{"cidr": "203.0.113.0/25"})
		}, status: 400, code: CodeCIDRTooSpecific},
		{name: "bgp create duplicate", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return post(pfxPath(acctA, id, "bgp", "prefixes"), map[string]any{"cidr": v4})
		}, status: 409, code: CodeBGPPrefixDuplicate},
		{name: "bgp advertise without default binding", setup: func(e *env) req {
			id := e.approvedPrefix(v4)
			var bp bgpPrefixView
			e.must("POST", pfxPath(acctA, id, "bgp", "prefixes"), map[string]any{"cidr": v4}, authA, &bp)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bp.ID), map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 400, code: CodeAdvertiseNoDefault},
		{name: "bgp advertise locked", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.must("POST", "/admin/v1/prefixes/"+id+"/lock", nil, noAuth, nil)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 400, code: CodeOnDemandLocked},
		{name: "bgp advertise unlocked", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.must("POST", "/admin/v1/prefixes/"+id+"/lock", nil, noAuth, nil)
			e.must("POST", "/admin/v1/prefixes/"+id+"/unlock", nil, noAuth, nil)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 200},
		{name: "bgp locked but no change", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.must("POST", "/admin/v1/prefixes/"+id+"/lock", nil, noAuth, nil)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": false}})
		}, status: 200},
		{name: "bgp not ready", daemon: slowTiming, setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 400, code: CodeBGPNotReady},
		{name: "bgp ready after wait", daemon: slowTiming, setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.clk.FastForward(5 * time.Hour)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 200},
		{name: "bgp toggle too soon", daemon: slowTiming, setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.clk.FastForward(5 * time.Hour)
			path := pfxPath(acctA, id, "bgp", "prefixes", bgp)
			e.must("PATCH", path, map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
			e.clk.FastForward(14 * time.Minute)
			return patch(path, map[string]any{"on_demand": map[string]any{"advertised": false}})
		}, status: 400, code: CodeToggleTooSoon},
		{name: "bgp toggle same state is no toggle", daemon: slowTiming, setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.clk.FastForward(5 * time.Hour)
			path := pfxPath(acctA, id, "bgp", "prefixes", bgp)
			e.must("PATCH", path, map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
			return patch(path, map[string]any{"on_demand": map[string]any{"advertised": true}})
		}, status: 200},
		{name: "bgp toggle after interval", daemon: slowTiming, setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			e.clk.FastForward(5 * time.Hour)
			path := pfxPath(acctA, id, "bgp", "prefixes", bgp)
			e.must("PATCH", path, map[string]any{"on_demand": map[string]any{"advertised": true}}, authA, nil)
			e.clk.FastForward(15 * time.Minute)
			return patch(path, map[string]any{"on_demand": map[string]any{"advertised": false}})
		}, status: 200},
		{name: "bgp prepend 3", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"asn_prepend_count": 3})
		}, status: 200},
		{name: "bgp prepend 4", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"asn_prepend_count": 4})
		}, status: 400, code: CodeASNPrependRange},
		{name: "bgp prepend negative", setup: func(e *env) req {
			id, bgp := e.withDefault(v4)
			return patch(pfxPath(acctA, id, "bgp", "prefixes", bgp), map[string]any{"asn_prepend_count": -1})
		}, status: 400, code: CodeASNPrependRange},
		{name: "bgp get unknown", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return req{"GET", pfxPath(acctA, id, "bgp", "prefixes", newID()), nil, authA}
		}, status: 404, code: CodeNotFound},
		{name: "bgp status patch without bgp prefix", setup: func(e *env) req {
			return patch(pfxPath(acctA, e.approvedPrefix(v4), "bgp", "status"), map[string]any{"advertised": true})
		}, status: 400, code: CodeNoBGPPrefix},
		{name: "bgp status patch missing field", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			return patch(pfxPath(acctA, id, "bgp", "status"), map[string]any{})
		}, status: 400, code: CodeMissingField},
		{name: "bgp status patch locked", setup: func(e *env) req {
			id, _ := e.withDefault(v4)
			e.must("POST", "/admin/v1/prefixes/"+id+"/lock", nil, noAuth, nil)
			return patch(pfxPath(acctA, id, "bgp", "status"), map[string]any{"advertised": true})
		}, status: 400, code: CodeOnDemandLocked},
		// Admin.
		{name: "admin bad duration", setup: func(e *env) req {
			return req{"POST", "/admin/v1/clock/fast-forward", map[string]any{"duration": "soon"}, noAuth}
		}, status: 400, code: CodeAdminBadDuration},
		{name: "admin negative duration", setup: func(e *env) req {
			return req{"POST", "/admin/v1/clock/fast-forward", map[string]any{"duration": "-5h"}, noAuth}
		}, status: 400, code: CodeAdminBadDuration},
		{name: "admin lock unknown", setup: func(e *env) req { return req{"POST", "/admin/v1/prefixes/" + newID() + "/lock", nil, noAuth} }, status: 404, code: CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpt{daemon: tt.daemon})
			rq := tt.setup(e)
			before := e.srv.State()
			r := e.do(rq.method, rq.path, rq.body, rq.auth)
			if r.Status != tt.status || r.code() != tt.code {
				t.Fatalf("%s %s = %d code %d, want %d code %d\n%s", rq.method, rq.path, r.Status, r.code(), tt.status, tt.code, r.Raw)
			}
			if tt.status >= 400 {
				if got := r.Header.Get("X-Should-Retry"); got != "false" {
					t.Errorf("x-should-retry = %q, want false", got)
				}
				if r.Env.Success || r.Env.Result != nil && string(r.Env.Result) != "null" {
					t.Errorf("error envelope has success or result: %s", r.Raw)
				}
				if after := e.srv.State(); !statesEqual(before, after) {
					t.Errorf("a rejected request changed the state")
				}
			}
			if tt.status == http.StatusOK && !r.Env.Success {
				t.Errorf("success = false on 200")
			}
		})
	}
}

// onlyPrefix returns the id of the single prefix in the state.
func (e *env) onlyPrefix() string {
	e.t.Helper()
	st := e.srv.State()
	if len(st.Prefixes) != 1 {
		e.t.Fatalf("%d prefixes, want 1", len(st.Prefixes))
	}
	for id := range st.Prefixes {
		return id
	}
	return ""
}

// bindingID returns the id of prefix id's binding for cidr.
func (e *env) bindingID(prefixID, cidr string) string {
	e.t.Helper()
	for _, b := range e.srv.State().Bindings {
		if b.PrefixID == prefixID && b.CIDR.String() == cidr {
			return b.ID
		}
	}
	e.t.Fatalf("no binding %s", cidr)
	return ""
}

func statesEqual(a, b *config.State) bool {
	eq := func(x, y any) bool { return mustJSON(x) == mustJSON(y) }
	return eq(a, b)
}
