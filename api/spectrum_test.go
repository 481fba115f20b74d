package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	cloudflare "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/shared"
	"github.com/cloudflare/cloudflare-go/v6/spectrum"

	"github.com/edgesim/edgesim/config"
)

// Zones of the demo config.
const (
	zoneA = "9a7806061c88ada191ed06f989cc3dac" // example.net, account A
	zoneB = "023e105f4ecef8ad9ca31a8372d0c353" // example.com, account B
)

func appsPath(zone string, rest ...string) string {
	p := "/client/v4/zones/" + zone + "/spectrum/apps"
	for _, s := range rest {
		p += "/" + s
	}
	return p
}

// spectrumSetup onboards 203.0.113.0/24 for account A with a CDN default
// binding and a Spectrum binding for 203.0.113.16/29, and delegates
// 203.0.113.18/32 to account B. It returns the prefix id.
func (e *env) spectrumSetup() string {
	e.t.Helper()
	id, _ := e.withDefault(v4)
	e.must("POST", pfxPath(acctA, id, "bindings"), map[string]any{"cidr": "203.0.113.16/29", "service_id": svcSpectrum}, authA, nil)
	e.must("POST", pfxPath(acctA, id, "delegations"), map[string]any{"cidr": "203.0.113.18/32", "delegated_account_id": acctB}, authA, nil)
	return id
}

// app is a minimal valid app body for zone A (example.net), changed by mod.
func app(mod func(m map[string]any)) map[string]any {
	m := map[string]any{
		"protocol":      "tcp/22",
		"dns":           map[string]any{"type": "CNAME", "name": "ssh.example.net"},
		"origin_direct": []string{"tcp://192.0.2.1:22"},
	}
	if mod != nil {
		mod(m)
	}
	return m
}

func static(ips ...string) map[string]any { return map[string]any{"type": "static", "ips": ips} }

func set(kv ...any) func(map[string]any) {
	return func(m map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
	}
}

func createApp(zone string, body any) func(e *env) req {
	return func(e *env) req {
		e.spectrumSetup()
		a := authA
		if zone == zoneB {
			a = authB
		}
		return req{"POST", appsPath(zone), body, a}
	}
}

// TestSpectrumRules drives every Spectrum rule through the HTTP API.
func TestSpectrumRules(t *testing.T) {
	t.Parallel()
	strict := func(d *config.Daemon) { d.Rules.SpectrumStrict = true }
	noPool := func(d *config.Daemon) { d.AnycastPool = nil }
	addr := func(name string) map[string]any { return map[string]any{"type": "ADDRESS", "name": name} }
	tests := []struct {
		name   string
		daemon func(*config.Daemon)
		setup  func(e *env) req
		status int
		code   Code
		warn   Code // the first message's code on success
	}{
		{name: "dynamic defaults", setup: createApp(zoneA, app(nil)), status: 200},
		{name: "static own ip warns unbound", setup: createApp(zoneA, app(set("edge_ips", static("203.0.113.20")))), status: 200, warn: CodeSpectrumEdgeIPUnbound},
		{name: "static delegated ip", setup: createApp(zoneB, app(set("dns", addr("ssh.example.com"), "edge_ips", static("203.0.113.18")))), status: 200, warn: CodeSpectrumEdgeIPUnbound},
		{name: "static neighbour not delegated", setup: createApp(zoneB, app(set("dns", addr("ssh.example.com"), "edge_ips", static("203.0.113.19")))), status: 400, code: CodeSpectrumEdgeIPNotOwned},
		{name: "static outside any prefix", setup: createApp(zoneA, app(set("edge_ips", static("192.0.2.10")))), status: 400, code: CodeSpectrumEdgeIPNotOwned},
		{name: "static active spectrum binding no warning", setup: func(e *env) req {
			e.spectrumSetup()
			e.clk.FastForward(5 * time.Hour)
			return post(appsPath(zoneA), app(set("dns", addr("ssh.example.net"), "edge_ips", static("203.0.113.20"))))
		}, status: 200},
		{name: "strict static unbound", daemon: strict, setup: createApp(zoneA, app(set("dns", addr("ssh.example.net"), "edge_ips", static("203.0.113.20")))), status: 400, code: CodeSpectrumEdgeIPUnbound},
		{name: "strict static cdn ip", daemon: strict, setup: func(e *env) req {
			e.spectrumSetup()
			e.clk.FastForward(5 * time.Hour)
			return post(appsPath(zoneA), app(set("dns", addr("ssh.example.net"), "edge_ips", static("203.0.113.5"))))
		}, status: 400, code: CodeSpectrumEdgeIPUnbound},
		{name: "strict static active", daemon: strict, setup: func(e *env) req {
			e.spectrumSetup()
			e.clk.FastForward(5 * time.Hour)
			return post(appsPath(zoneA), app(set("dns", addr("ssh.example.net"), "edge_ips", static("203.0.113.20"))))
		}, status: 200},
		{name: "strict static cname", daemon: strict, setup: createApp(zoneA, app(set("edge_ips", static("203.0.113.20")))), status: 400, code: CodeSpectrumDNSTypeMode},
		{name: "strict dynamic address", daemon: strict, setup: createApp(zoneA, app(set("dns", addr("ssh.example.net")))), status: 400, code: CodeSpectrumDNSTypeMode},
		{name: "lenient dynamic address", setup: createApp(zoneA, app(set("dns", addr("ssh.example.net")))), status: 200},
		{name: "ipv6 static", setup: func(e *env) req {
			id := e.approvedPrefix("2001:db8::/48")
			_ = id
			return post(appsPath(zoneA), app(set("dns", addr("ssh.example.net"), "edge_ips", static("2001:db8::1"))))
		}, status: 200, warn: CodeSpectrumEdgeIPUnbound},
		// Protocol.
		{name: "protocol range", setup: createApp(zoneA, app(set("protocol", "tcp/1000-2000", "origin_direct", []string{"tcp://192.0.2.1:3000-4000"}))), status: 200},
		{name: "protocol udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}))), status: 200},
		{name: "protocol port 0", setup: createApp(zoneA, app(set("protocol", "tcp/0"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol port 65536", setup: createApp(zoneA, app(set("protocol", "tcp/65536"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol range reversed", setup: createApp(zoneA, app(set("protocol", "tcp/2000-1000"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol range equal", setup: createApp(zoneA, app(set("protocol", "tcp/22-22"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol sctp", setup: createApp(zoneA, app(set("protocol", "sctp/22"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol paygo name", setup: createApp(zoneA, app(set("protocol", "minecraft"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol leading zero", setup: createApp(zoneA, app(set("protocol", "tcp/022"))), status: 400, code: CodeSpectrumProtocol},
		{name: "protocol missing", setup: createApp(zoneA, app(set("protocol", nil))), status: 400, code: CodeMissingField},
		{name: "dns missing", setup: createApp(zoneA, app(set("dns", nil))), status: 400, code: CodeMissingField},
		{name: "unknown field", setup: createApp(zoneA, app(set("colour", "red"))), status: 400, code: CodeUnknownField},
		// Origins.
		{name: "origin http", setup: createApp(zoneA, app(set("origin_direct", []string{"http://192.0.2.1:22"}))), status: 400, code: CodeSpectrumOrigin},
		{name: "origin no port", setup: createApp(zoneA, app(set("origin_direct", []string{"tcp://192.0.2.1"}))), status: 400, code: CodeSpectrumOrigin},
		{name: "origin v6 unbracketed", setup: createApp(zoneA, app(set("origin_direct", []string{"tcp://2001:db8::1:22"}))), status: 400, code: CodeSpectrumOrigin},
		{name: "origin v6", setup: createApp(zoneA, app(set("origin_direct", []string{"tcp://[2001:db8::1]:22"}))), status: 200},
		{name: "origin hostname", setup: createApp(zoneA, app(set("origin_direct", []string{"tcp://origin.example.net:22"}))), status: 400, code: CodeSpectrumOrigin},
		{name: "origin scheme mismatch", setup: createApp(zoneA, app(set("origin_direct", []string{"udp://192.0.2.1:22"}))), status: 400, code: CodeSpectrumOriginScheme},
		{name: "origin range size", setup: createApp(zoneA, app(set("protocol", "tcp/1000-2000", "origin_direct", []string{"tcp://192.0.2.1:3000-3999"}))), status: 400, code: CodeSpectrumOriginRange},
		{name: "origin single for range", setup: createApp(zoneA, app(set("protocol", "tcp/1000-2000"))), status: 400, code: CodeSpectrumOriginRange},
		{name: "origin range for single", setup: createApp(zoneA, app(set("origin_direct", []string{"tcp://192.0.2.1:22-23"}))), status: 400, code: CodeSpectrumOriginRange},
		{name: "origin both", setup: createApp(zoneA, app(set("origin_dns", map[string]any{"name": "origin.example.net"}))), status: 400, code: CodeSpectrumOriginChoice},
		{name: "origin neither", setup: createApp(zoneA, app(set("origin_direct", nil))), status: 400, code: CodeSpectrumOriginChoice},
		{name: "origin dns int port", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net", "ttl": 600, "type": ""}, "origin_port", 22))), status: 200},
		{name: "origin dns range port", setup: createApp(zoneA, app(set("protocol", "tcp/1000-2000", "origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net"}, "origin_port", "3000-4000"))), status: 200},
		{name: "origin dns range size", setup: createApp(zoneA, app(set("protocol", "tcp/1000-2000", "origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net"}, "origin_port", "3000-3999"))), status: 400, code: CodeSpectrumOriginRange},
		{name: "origin port without dns", setup: createApp(zoneA, app(set("origin_port", 22))), status: 400, code: CodeSpectrumOriginPort},
		{name: "origin port 0", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net"}, "origin_port", 0))), status: 400, code: CodeSpectrumOriginPort},
		{name: "origin port float", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net"}, "origin_port", 22.5))), status: 400, code: CodeSpectrumOriginPort},
		{name: "origin port bool", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net"}, "origin_port", true))), status: 400, code: CodeFieldType},
		{name: "origin dns type mx", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "origin.example.net", "type": "MX"}))), status: 400, code: CodeSpectrumOriginDNS},
		{name: "origin dns bad name", setup: createApp(zoneA, app(set("origin_direct", nil, "origin_dns", map[string]any{"name": "not a name"}))), status: 400, code: CodeSpectrumOriginDNS},
		// Proxy protocol and TCP-only options.
		{name: "proxy v2 udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "proxy_protocol", "v2"))), status: 200},
		{name: "proxy v3", setup: createApp(zoneA, app(set("proxy_protocol", "v3"))), status: 400, code: CodeSpectrumProxyProtocol},
		{name: "proxy v1 udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "proxy_protocol", "v1"))), status: 400, code: CodeSpectrumProxyProtocol},
		{name: "proxy simple tcp", setup: createApp(zoneA, app(set("proxy_protocol", "simple"))), status: 400, code: CodeSpectrumProxyProtocol},
		{name: "proxy legacy true", setup: createApp(zoneA, app(set("proxy_protocol", true))), status: 200},
		{name: "proxy legacy false", setup: createApp(zoneA, app(set("proxy_protocol", false))), status: 200},
		{name: "proxy legacy number", setup: createApp(zoneA, app(set("proxy_protocol", 1))), status: 400, code: CodeFieldType},
		{name: "spp udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "spp", true))), status: 200},
		{name: "spp tcp", setup: createApp(zoneA, app(set("spp", true))), status: 400, code: CodeSpectrumProxyProtocol},
		{name: "spp with v2", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "spp", true, "proxy_protocol", "v2"))), status: 400, code: CodeSpectrumProxyProtocol},
		{name: "ip firewall tcp", setup: createApp(zoneA, app(set("ip_firewall", true, "argo_smart_routing", true))), status: 200},
		{name: "ip firewall udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "ip_firewall", true))), status: 400, code: CodeSpectrumTCPOnly},
		{name: "argo udp", setup: createApp(zoneA, app(set("protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "argo_smart_routing", true))), status: 400, code: CodeSpectrumTCPOnly},
		{name: "tls strict", setup: createApp(zoneA, app(set("tls", "strict"))), status: 200},
		{name: "tls none", setup: createApp(zoneA, app(set("tls", "none"))), status: 400, code: CodeSpectrumTLS},
		{name: "traffic https", setup: createApp(zoneA, app(set("traffic_type", "https"))), status: 200},
		{name: "traffic ftp", setup: createApp(zoneA, app(set("traffic_type", "ftp"))), status: 400, code: CodeSpectrumTrafficType},
		// Edge IPs.
		{name: "edge type unknown", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"type": "anycast"}))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge type missing", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"connectivity": "all"}))), status: 400, code: CodeMissingField},
		{name: "edge static empty", setup: createApp(zoneA, app(set("edge_ips", static()))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge static bad ip", setup: createApp(zoneA, app(set("edge_ips", static("203.0.113.300")))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge static duplicate", setup: createApp(zoneA, app(set("edge_ips", static("203.0.113.20", "203.0.113.20")))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge static connectivity", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"type": "static", "connectivity": "all", "ips": []string{"203.0.113.20"}}))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge dynamic with ips", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"type": "dynamic", "ips": []string{"203.0.113.20"}}))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge dynamic both", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"type": "dynamic", "connectivity": "both"}))), status: 400, code: CodeSpectrumEdgeIPs},
		{name: "edge dynamic ipv6", setup: createApp(zoneA, app(set("edge_ips", map[string]any{"type": "dynamic", "connectivity": "ipv6"}))), status: 200},
		{name: "pool missing", daemon: noPool, setup: createApp(zoneA, app(nil)), status: 400, code: CodeSpectrumPoolExhausted},
		// DNS.
		{name: "dns type A", setup: createApp(zoneA, app(set("dns", map[string]any{"type": "A", "name": "ssh.example.net"}))), status: 400, code: CodeSpectrumDNS},
		{name: "dns bad name", setup: createApp(zoneA, app(set("dns", map[string]any{"type": "CNAME", "name": "ssh example"}))), status: 400, code: CodeSpectrumDNS},
		{name: "dns outside zone", setup: createApp(zoneA, app(set("dns", map[string]any{"type": "CNAME", "name": "ssh.example.org"}))), status: 400, code: CodeSpectrumDNSOutsideZone},
		{name: "dns suffix not zone", setup: createApp(zoneA, app(set("dns", map[string]any{"type": "CNAME", "name": "badexample.net"}))), status: 400, code: CodeSpectrumDNSOutsideZone},
		{name: "dns zone apex", setup: createApp(zoneA, app(set("dns", map[string]any{"type": "CNAME", "name": "Example.NET."}))), status: 200},
		// Shared hostnames and port conflicts.
		{name: "hostname other static ip", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("protocol", "tcp/80", "origin_direct", []string{"tcp://192.0.2.1:80"}, "edge_ips", static("203.0.113.21"))))
		}, status: 409, code: CodeSpectrumHostnameIPs},
		{name: "hostname static vs dynamic", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("protocol", "tcp/80", "origin_direct", []string{"tcp://192.0.2.1:80"})))
		}, status: 409, code: CodeSpectrumHostnameIPs},
		{name: "hostname same static ips", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("protocol", "tcp/80", "origin_direct", []string{"tcp://192.0.2.1:80"}, "edge_ips", static("203.0.113.20"))))
		}, status: 200, warn: CodeSpectrumEdgeIPUnbound},
		{name: "port conflict static", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("dns", map[string]any{"type": "ADDRESS", "name": "other.example.net"}, "protocol", "tcp/20-30", "origin_direct", []string{"tcp://192.0.2.1:1020-1030"}, "edge_ips", static("203.0.113.20"))))
		}, status: 409, code: CodeSpectrumPortConflict},
		{name: "port conflict same hostname dynamic", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(nil), authA, nil)
			return post(appsPath(zoneA), app(nil))
		}, status: 409, code: CodeSpectrumPortConflict},
		{name: "no conflict other transport", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("dns", map[string]any{"type": "ADDRESS", "name": "other.example.net"}, "protocol", "udp/22", "origin_direct", []string{"udp://192.0.2.1:22"}, "edge_ips", static("203.0.113.20"))))
		}, status: 200, warn: CodeSpectrumEdgeIPUnbound},
		{name: "no conflict other port", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneA), app(set("edge_ips", static("203.0.113.20"))), authA, nil)
			return post(appsPath(zoneA), app(set("dns", map[string]any{"type": "ADDRESS", "name": "other.example.net"}, "protocol", "tcp/23-30", "origin_direct", []string{"tcp://192.0.2.1:23-30"}, "edge_ips", static("203.0.113.20"))))
		}, status: 200, warn: CodeSpectrumEdgeIPUnbound},
		{name: "conflict across zones", setup: func(e *env) req {
			e.spectrumSetup()
			e.must("POST", appsPath(zoneB), app(set("dns", addr("ssh.example.com"), "edge_ips", static("203.0.113.18"))), authB, nil)
			// Account A owns the prefix, so it may use the IP too, but not the same port.
			return post(appsPath(zoneA), app(set("dns", addr("ssh.example.net"), "edge_ips", static("203.0.113.18"))))
		}, status: 409, code: CodeSpectrumPortConflict},
		{name: "name taken by a dns record", setup: func(e *env) req {
			e.must("POST", recPath(zoneA), rec("A", "ssh", "192.0.2.1"), authA, nil)
			return post(appsPath(zoneA), app(nil))
		}, status: 409, code: CodeSpectrumNameTaken},
		{name: "same name in another zone is free", setup: func(e *env) req {
			e.must("POST", recPath(zoneB), rec("A", "ssh.example.net", "192.0.2.1"), authB, nil) // becomes ssh.example.net.example.com
			return post(appsPath(zoneA), app(nil))
		}, status: 200},
		// Zones, auth, lookups.
		{name: "unknown zone", setup: func(e *env) req { return post(appsPath(newID()), app(nil)) }, status: 404, code: CodeNotFound},
		{name: "zone of other account", setup: func(e *env) req { return post(appsPath(zoneB), app(nil)) }, status: 404, code: CodeNotFound},
		{name: "read token writes", setup: func(e *env) req { return req{"POST", appsPath(zoneA), app(nil), bearer(tokenRead)} }, status: 403, code: CodeForbidden},
		{name: "read token lists", setup: func(e *env) req { return req{"GET", appsPath(zoneA), nil, bearer(tokenRead)} }, status: 200},
		{name: "get unknown app", setup: func(e *env) req { return req{"GET", appsPath(zoneA, newID()), nil, authA} }, status: 404, code: CodeNotFound},
		{name: "get app of other zone", setup: func(e *env) req {
			e.spectrumSetup()
			var v spectrumAppView
			e.must("POST", appsPath(zoneB), app(set("dns", addr("ssh.example.com"), "edge_ips", static("203.0.113.18"))), authB, &v)
			return req{"GET", appsPath(zoneA, v.ID), nil, authA}
		}, status: 404, code: CodeNotFound},
		{name: "put unknown app", setup: func(e *env) req { return req{"PUT", appsPath(zoneA, newID()), app(nil), authA} }, status: 404, code: CodeNotFound},
		{name: "put invalid", setup: func(e *env) req {
			var v spectrumAppView
			e.must("POST", appsPath(zoneA), app(nil), authA, &v)
			return req{"PUT", appsPath(zoneA, v.ID), app(set("tls", "none")), authA}
		}, status: 400, code: CodeSpectrumTLS},
		{name: "put same ports ok", setup: func(e *env) req {
			var v spectrumAppView
			e.must("POST", appsPath(zoneA), app(nil), authA, &v)
			return req{"PUT", appsPath(zoneA, v.ID), app(set("tls", "full")), authA}
		}, status: 200},
		{name: "delete unknown app", setup: func(e *env) req { return delReq(appsPath(zoneA, newID())) }, status: 404, code: CodeNotFound},
		{name: "list per_page 0", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?per_page=0", nil, authA} }, status: 400, code: CodeBadQuery},
		{name: "list per_page 101", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?per_page=101", nil, authA} }, status: 400, code: CodeBadQuery},
		{name: "list per_page 100", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?per_page=100", nil, authA} }, status: 200},
		{name: "list page 0", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?page=0", nil, authA} }, status: 400, code: CodeBadQuery},
		{name: "list page text", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?page=two", nil, authA} }, status: 400, code: CodeBadQuery},
		{name: "list order bad", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?order=name", nil, authA} }, status: 400, code: CodeBadQuery},
		{name: "list direction bad", setup: func(e *env) req { return req{"GET", appsPath(zoneA) + "?direction=up", nil, authA} }, status: 400, code: CodeBadQuery},
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
				if after := e.srv.State(); !statesEqual(before, after) {
					t.Errorf("a rejected request changed the state")
				}
				return
			}
			var warn Code
			if len(r.Env.Messages) > 0 {
				warn = r.Env.Messages[0].Code
			}
			if warn != tt.warn {
				t.Errorf("first message code %d, want %d: %s", warn, tt.warn, r.Raw)
			}
		})
	}
}

// TestSpectrumDefaultsAndLegacy checks the stored and returned values.
func TestSpectrumDefaultsAndLegacy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	var v spectrumAppView
	e.must("POST", appsPath(zoneA), app(set("proxy_protocol", true, "dns", map[string]any{"type": "CNAME", "name": "SSH.Example.net."})), authA, &v)
	if v.ProxyProtocol != "v1" || v.TLS != "off" || v.TrafficType != "direct" || v.EdgeIPs.Type != "dynamic" ||
		v.EdgeIPs.Connectivity != "all" || v.EdgeIPs.IPs != nil || v.DNS.Name != "ssh.example.net" || v.IPFirewall || v.ArgoSmartRouting {
		t.Fatalf("defaults: %+v", v)
	}
	a := e.srv.State().SpectrumApps[v.ID]
	if len(a.EdgeIPs.IPs) != 2 || !a.EdgeIPs.IPs[0].Is4() || !a.EdgeIPs.IPs[1].Is6() ||
		!mustPrefix("198.51.100.0/24").Contains(a.EdgeIPs.IPs[0]) || !mustPrefix("2001:db8:ff::/48").Contains(a.EdgeIPs.IPs[1]) {
		t.Fatalf("allocated %v", a.EdgeIPs.IPs)
	}
	// Another hostname gets other addresses; an update keeps them.
	var w spectrumAppView
	e.must("POST", appsPath(zoneA), app(set("dns", map[string]any{"type": "CNAME", "name": "www.example.net"})), authA, &w)
	b := e.srv.State().SpectrumApps[w.ID]
	if b.EdgeIPs.IPs[0] == a.EdgeIPs.IPs[0] || b.EdgeIPs.IPs[1] == a.EdgeIPs.IPs[1] {
		t.Fatalf("two hostnames share %v and %v", a.EdgeIPs.IPs, b.EdgeIPs.IPs)
	}
	e.clk.FastForward(time.Minute)
	var u spectrumAppView
	e.must("PUT", appsPath(zoneA, w.ID), app(set("dns", map[string]any{"type": "CNAME", "name": "www.example.net"}, "protocol", "udp/53", "origin_direct", []string{"udp://192.0.2.1:53"}, "spp", true)), authA, &u)
	if u.ProxyProtocol != "simple" || u.Protocol != "udp/53" || !u.CreatedOn.Equal(w.CreatedOn) || !u.ModifiedOn.After(w.ModifiedOn) {
		t.Fatalf("update: %+v", u)
	}
	if got := e.srv.State().SpectrumApps[w.ID].EdgeIPs.IPs; fmt.Sprint(got) != fmt.Sprint(b.EdgeIPs.IPs) {
		t.Fatalf("update moved the addresses from %v to %v", b.EdgeIPs.IPs, got)
	}
	var d struct{ ID string }
	e.must("DELETE", appsPath(zoneA, w.ID), nil, authA, &d)
	if d.ID != w.ID {
		t.Fatalf("delete returned %+v", d)
	}
	if r := e.do("GET", appsPath(zoneA, w.ID), nil, authA); r.Status != http.StatusNotFound {
		t.Fatalf("get after delete: %d", r.Status)
	}
}

// TestSpectrumListPaging checks pages, result_info, order and direction.
func TestSpectrumListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	names := []string{"c", "a", "e", "b", "d"}
	for i, n := range names {
		e.clk.FastForward(time.Second)
		e.must("POST", appsPath(zoneA), app(set("dns", map[string]any{"type": "CNAME", "name": n + ".example.net"}, "protocol", fmt.Sprintf("tcp/%d", 100-i))), authA, nil)
	}
	list := func(q string) ([]string, *resultInfo) {
		var vs []spectrumAppView
		r := e.must("GET", appsPath(zoneA)+"?"+q, nil, authA, &vs)
		var out []string
		for _, v := range vs {
			out = append(out, v.DNS.Name[:1])
		}
		return out, r.Env.ResultInfo
	}
	for _, tc := range []struct {
		q, want string
		info    resultInfo
	}{
		{"", "[a b c d e]", resultInfo{1, 20, 5, 5, 1}},
		{"per_page=2", "[a b]", resultInfo{1, 2, 2, 5, 3}},
		{"per_page=2&page=3", "[e]", resultInfo{3, 2, 1, 5, 3}},
		{"per_page=2&page=4", "[]", resultInfo{4, 2, 0, 5, 3}},
		{"order=created_on", "[c a e b d]", resultInfo{1, 20, 5, 5, 1}},
		{"order=created_on&direction=desc", "[d b e a c]", resultInfo{1, 20, 5, 5, 1}},
		{"order=protocol", "[d b e a c]", resultInfo{1, 20, 5, 5, 1}},
		{"order=modified_on&direction=desc&per_page=1&page=2", "[b]", resultInfo{2, 1, 1, 5, 5}},
		{"direction=desc", "[e d c b a]", resultInfo{1, 20, 5, 5, 1}},
	} {
		got, info := list(tc.q)
		if fmt.Sprint(got) != tc.want && !(tc.want == "[]" && len(got) == 0) {
			t.Errorf("?%s = %v, want %s", tc.q, got, tc.want)
		}
		if info == nil || *info != tc.info {
			t.Errorf("?%s result_info = %+v, want %+v", tc.q, info, tc.info)
		}
	}
	var ids []spectrumAppView
	e.must("GET", appsPath(zoneA)+"?order=app_id", nil, authA, &ids)
	for i := 1; i < len(ids); i++ {
		if ids[i-1].ID > ids[i].ID {
			t.Fatalf("order=app_id not sorted: %v", ids)
		}
	}
	// Another zone's list is empty.
	var other []spectrumAppView
	e.must("GET", appsPath(zoneB), nil, authB, &other)
	if len(other) != 0 {
		t.Fatalf("zone B lists %d apps", len(other))
	}
}

// TestSDKSpectrum: account B creates apps on its delegated IP through
// cloudflare-go v6.10.0, fails on a neighbour IP, and reads, replaces,
// lists and deletes them.
func TestSDKSpectrum(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	e.spectrumSetup()
	ctx := t.Context()
	b := keyClient(e.hs.URL, emailB, keyB)
	zone := cloudflare.F(zoneB)
	body := func(ip string) spectrum.AppNewParamsBodySpectrumConfigAppConfig {
		return spectrum.AppNewParamsBodySpectrumConfigAppConfig{
			DNS:         cloudflare.F(spectrum.DNSParam{Name: cloudflare.F("ssh.example.com"), Type: cloudflare.F(spectrum.DNSTypeAddress)}),
			Protocol:    cloudflare.F("tcp/22"),
			TrafficType: cloudflare.F(spectrum.AppNewParamsBodySpectrumConfigAppConfigTrafficTypeDirect),
			EdgeIPs: cloudflare.F[spectrum.EdgeIPsUnionParam](spectrum.EdgeIPsStaticParam{
				Type: cloudflare.F(spectrum.EdgeIPsStaticTypeStatic), IPs: cloudflare.F([]string{ip}),
			}),
			OriginDirect:  cloudflare.F([]string{"tcp://192.0.2.1:22"}),
			ProxyProtocol: cloudflare.F(spectrum.AppNewParamsBodySpectrumConfigAppConfigProxyProtocolV1),
			TLS:           cloudflare.F(spectrum.AppNewParamsBodySpectrumConfigAppConfigTLSOff),
			IPFirewall:    cloudflare.F(true),
		}
	}
	app, err := b.Spectrum.Apps.New(ctx, spectrum.AppNewParams{ZoneID: zone, Body: body("203.0.113.18")})
	if err != nil {
		t.Fatalf("Apps.New on the delegated ip: %v", err)
	}
	if app.ID == "" || app.Protocol != "tcp/22" || app.DNS.Type != spectrum.DNSTypeAddress || app.EdgeIPs.Type != spectrum.EdgeIPsTypeStatic ||
		app.ProxyProtocol != spectrum.AppNewResponseProxyProtocolV1 || app.TrafficType != spectrum.AppNewResponseTrafficTypeDirect || !app.IPFirewall {
		t.Fatalf("Apps.New: %+v", app)
	}
	if ips, ok := app.EdgeIPs.IPs.([]string); !ok || len(ips) != 1 || ips[0] != "203.0.113.18" {
		t.Fatalf("edge ips %#v", app.EdgeIPs.IPs)
	}
	_, err = b.Spectrum.Apps.New(ctx, spectrum.AppNewParams{ZoneID: zone, Body: body("203.0.113.19")})
	apiErr(t, "Apps.New on a neighbour ip", err, 400, CodeSpectrumEdgeIPNotOwned)

	got, err := b.Spectrum.Apps.Get(ctx, app.ID, spectrum.AppGetParams{ZoneID: zone})
	if err != nil || got.ID != app.ID || got.Protocol != "tcp/22" {
		t.Fatalf("Apps.Get: %v %+v", err, got)
	}
	upd, err := b.Spectrum.Apps.Update(ctx, app.ID, spectrum.AppUpdateParams{ZoneID: zone, Body: spectrum.AppUpdateParamsBodySpectrumConfigAppConfig{
		DNS:         cloudflare.F(spectrum.DNSParam{Name: cloudflare.F("range.example.com"), Type: cloudflare.F(spectrum.DNSTypeCNAME)}),
		Protocol:    cloudflare.F("tcp/1000-2000"),
		TrafficType: cloudflare.F(spectrum.AppUpdateParamsBodySpectrumConfigAppConfigTrafficTypeDirect),
		EdgeIPs: cloudflare.F[spectrum.EdgeIPsUnionParam](spectrum.EdgeIPsDynamicParam{
			Type: cloudflare.F(spectrum.EdgeIPsDynamicTypeDynamic), Connectivity: cloudflare.F(spectrum.EdgeIPsDynamicConnectivityIPV4),
		}),
		OriginDNS:  cloudflare.F(spectrum.OriginDNSParam{Name: cloudflare.F("origin.example.com"), TTL: cloudflare.F(int64(600)), Type: cloudflare.F(spectrum.OriginDNSTypeEmpty)}),
		OriginPort: cloudflare.F[spectrum.OriginPortUnionParam](shared.UnionString("3000-4000")),
	}})
	if err != nil {
		t.Fatalf("Apps.Update: %v", err)
	}
	if upd.ID != app.ID || upd.Protocol != "tcp/1000-2000" || upd.EdgeIPs.Connectivity != spectrum.EdgeIPsConnectivityIPV4 ||
		upd.OriginPort != shared.UnionString("3000-4000") || upd.OriginDNS.Name != "origin.example.com" || upd.OriginDNS.TTL != 600 {
		t.Fatalf("Apps.Update: %+v", upd)
	}
	page, err := b.Spectrum.Apps.List(ctx, spectrum.AppListParams{ZoneID: zone, PerPage: cloudflare.F(50.0), Order: cloudflare.F(spectrum.AppListParamsOrderCreatedOn), Direction: cloudflare.F(spectrum.AppListParamsDirectionDesc)})
	if err != nil || len(page.Result) != 1 || page.Result[0].ID != app.ID {
		t.Fatalf("Apps.List: %v %+v", err, page)
	}
	del, err := b.Spectrum.Apps.Delete(ctx, app.ID, spectrum.AppDeleteParams{ZoneID: zone})
	if err != nil || del.ID != app.ID {
		t.Fatalf("Apps.Delete: %v %+v", err, del)
	}
	_, err = b.Spectrum.Apps.Get(ctx, app.ID, spectrum.AppGetParams{ZoneID: zone})
	apiErr(t, "Apps.Get after delete", err, 404, CodeNotFound)
	_, err = tokenClient(e.hs.URL, tokenB).Spectrum.Apps.New(ctx, spectrum.AppNewParams{ZoneID: zone, Body: body("203.0.113.18")})
	apiErr(t, "read-only token", err, 403, CodeForbidden)
}

// TestSDKSpectrumAutoPaging: ListAutoPaging over 250 apps yields all 250
// (the SDK stops only on an empty page).
func TestSDKSpectrumAutoPaging(t *testing.T) {
	clearCloudflareEnv(t)
	e := newEnv(t, envOpt{})
	const n = 250
	for i := range n {
		e.must("POST", appsPath(zoneA), app(set("dns", map[string]any{"type": "CNAME", "name": fmt.Sprintf("app%d.example.net", i)})), authA, nil)
	}
	a := keyClient(e.hs.URL, emailA, keyA)
	for _, perPage := range []float64{0, 7, 100} {
		params := spectrum.AppListParams{ZoneID: cloudflare.F(zoneA)}
		if perPage > 0 {
			params.PerPage = cloudflare.F(perPage)
		}
		iter := a.Spectrum.Apps.ListAutoPaging(t.Context(), params)
		seen := map[string]bool{}
		for iter.Next() {
			id := iter.Current().ID
			if seen[id] {
				t.Fatalf("per_page %v: app %s twice", perPage, id)
			}
			seen[id] = true
		}
		if err := iter.Err(); err != nil || len(seen) != n {
			t.Fatalf("per_page %v: %v, %d apps, want %d", perPage, err, len(seen), n)
		}
	}
}

// TestGoldenSpectrum records the Spectrum app responses.
func TestGoldenSpectrum(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	e.spectrumSetup()
	n := newNormalizer()
	g := func(name, method, path string, body any, a auth) *resp {
		t.Helper()
		r := e.do(method, path, body, a)
		checkGolden(t, n, name, r)
		return r
	}
	var st spectrumAppView
	g("spectrum_create_static", "POST", appsPath(zoneB), map[string]any{
		"dns": map[string]any{"name": "ssh.example.com", "type": "ADDRESS"}, "edge_ips": static("203.0.113.18"),
		"origin_direct": []string{"tcp://192.0.2.1:22"}, "protocol": "tcp/22", "proxy_protocol": "v2", "tls": "off", "traffic_type": "direct",
	}, authB).into(t, &st)
	e.clk.FastForward(time.Second)
	var dyn spectrumAppView
	g("spectrum_create_dynamic", "POST", appsPath(zoneB), map[string]any{
		"dns": map[string]any{"name": "range.example.com", "type": "CNAME"}, "edge_ips": map[string]any{"connectivity": "ipv4", "type": "dynamic"},
		"origin_dns": map[string]any{"name": "origin.example.com", "ttl": 600, "type": ""}, "origin_port": "3000-4000", "protocol": "tcp/1000-2000", "traffic_type": "direct",
	}, authB).into(t, &dyn)
	e.clk.FastForward(time.Minute)
	g("spectrum_update", "PUT", appsPath(zoneB, dyn.ID), map[string]any{
		"dns": map[string]any{"name": "range.example.com", "type": "CNAME"}, "origin_direct": []string{"udp://[2001:db8::1]:53"}, "protocol": "udp/53", "spp": true,
	}, authB)
	g("spectrum_get", "GET", appsPath(zoneB, st.ID), nil, authB)
	g("spectrum_list", "GET", appsPath(zoneB)+"?per_page=1&page=2&order=created_on", nil, authB)
	g("spectrum_list_past_end", "GET", appsPath(zoneB)+"?per_page=1&page=3", nil, authB)
	g("spectrum_delete", "DELETE", appsPath(zoneB, st.ID), nil, authB)
	g("spectrum_error_not_owned", "POST", appsPath(zoneB), app(set("dns", map[string]any{"type": "ADDRESS", "name": "x.example.com"}, "edge_ips", static("203.0.113.19"))), authB)
	g("spectrum_error_port_conflict", "POST", appsPath(zoneB), map[string]any{
		"dns": map[string]any{"name": "range.example.com", "type": "CNAME"}, "origin_direct": []string{"udp://192.0.2.1:53"}, "protocol": "udp/53",
	}, authB)
}

// FuzzSpectrumRequest sends random bodies to the Spectrum create and
// update endpoints: never a 500, always an envelope matching the status.
func FuzzSpectrumRequest(f *testing.F) {
	e := newEnv(f, envOpt{})
	e.spectrumSetup()
	var v spectrumAppView
	e.must("POST", appsPath(zoneA), app(set("dns", map[string]any{"type": "CNAME", "name": "seed.example.net"})), authA, &v)
	paths := []struct{ method, path string }{{"POST", appsPath(zoneA)}, {"PUT", appsPath(zoneA, v.ID)}}
	for _, body := range []string{
		`{"dns":{"name":"ssh.example.net","type":"ADDRESS"},"edge_ips":{"ips":["203.0.113.20"],"type":"static"},"origin_direct":["tcp://192.0.2.1:22"],"protocol":"tcp/22","proxy_protocol":"v2","tls":"off","traffic_type":"direct"}`,
		`{"dns":{"name":"range.example.net","type":"CNAME"},"edge_ips":{"connectivity":"ipv4","type":"dynamic"},"origin_dns":{"name":"origin.example.net","ttl":600,"type":""},"origin_port":"3000-4000","protocol":"tcp/1000-2000","traffic_type":"direct"}`,
		`{"dns":{"name":"mc.example.net","type":"CNAME"},"origin_direct":["tcp://192.0.2.1:25565"],"protocol":"minecraft"}`,
		`{"dns":{"name":"u.example.net","type":"CNAME"},"origin_direct":["udp://[2001:db8::1]:53"],"protocol":"udp/53","spp":true,"proxy_protocol":false}`,
		`{"dns":{},"origin_port":1e3,"edge_ips":{"type":"static","ips":["::ffff:1.2.3.4"]}}`,
	} {
		f.Add(uint8(0), []byte(body))
		f.Add(uint8(1), []byte(body))
	}
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ep := paths[int(which)%len(paths)]
		w := serveFuzz(h, ep.method, ep.path, body)
		checkFuzzEnvelope(t, ep.method, ep.path, body, w.Code, w.Header(), w.Body.Bytes())
	})
}

// TestAdminDNS: the admin answer set shows Spectrum names with their edge
// IPs (static) and CNAMEs to pool addresses (dynamic).
func TestAdminDNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpt{})
	e.spectrumSetup()
	e.must("POST", appsPath(zoneB), app(set("dns", map[string]any{"type": "ADDRESS", "name": "ssh.example.com"}, "edge_ips", static("203.0.113.18"))), authB, nil)
	e.must("POST", appsPath(zoneA), app(set("edge_ips", map[string]any{"type": "dynamic", "connectivity": "ipv6"})), authA, nil)
	var v dnsView
	e.must("GET", "/admin/v1/dns", nil, noAuth, &v)
	got := map[string]dnsAnswerView{}
	for _, a := range v.Answers {
		got[a.Name] = a
	}
	if a := got["ssh.example.com"]; fmt.Sprint(a.A, a.AAAA) != "[203.0.113.18] []" || a.CNAME != "" || a.TTL != config.SpectrumTTL || a.Zone != "example.com" {
		t.Fatalf("static app answer %+v", a)
	}
	target := config.SpectrumTarget("ssh.example.net", "example.net")
	if a := got["ssh.example.net"]; a.CNAME != target || len(a.A)+len(a.AAAA) != 0 {
		t.Fatalf("dynamic app answer %+v", a)
	}
	if a := got[target]; len(a.A) != 0 || len(a.AAAA) != 1 || !mustPrefix("2001:db8:ff::/48").Contains(netipAddr(t, a.AAAA[0])) {
		t.Fatalf("target answer %+v", a)
	}
	n := newNormalizer()
	checkGolden(t, n, "admin_dns", e.do("GET", "/admin/v1/dns", nil, noAuth))
}
