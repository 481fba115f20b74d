package edgelab

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// hintsTmpl is the text of Hints.
var hintsTmpl = template.Must(template.New("hints").Parse(`edgesim lab is up: {{.L.Client.Name}} ── {{.L.Peer.Name}} (FRR AS{{.PeerAS}}) ── {{.L.Edge.Name}} (edged AS{{.EdgeAS}}) ── {{.L.Origin.Name}}
  edged API  {{.L.API}}/client/v4/  (host namespace; admin under /admin/v1/, metrics at /metrics)
  edge       BGP to the peer over IPv4 and IPv6, Spectrum proxy on AnyIP routes, DNS on {{.L.DNS}}
  client     {{.L.ClientAddr}}, routes through the peer;  origin {{.L.OriginAddr}}: tcp/{{.SSHPort}} prints the PROXY header it got, udp/{{.EchoPort}} echoes SPP
  demo state account A ({{.D.A.Email}}) owns {{.Prefix}} (validated, CDN + Spectrum {{.Spectrum}}, advertised),
             delegated {{.Delegated}} to account B ({{.D.B.Email}}): Spectrum apps {{.SSHName}} (tcp/{{.SSHPort}}, PROXY v2) and {{.EchoName}} (udp/{{.EchoPort}}, SPP)
  files      {{.Dir}} (edged.yaml, edged.log, registry/, peer/)

Try:
  ip netns exec {{.L.Client.Name}} nc {{.Delegated}} {{.SSHPort}}                       # the origin prints the PROXY v2 header with the client's address
  echo hello | ip netns exec {{.L.Client.Name}} nc -u -w1 {{.Delegated}} {{.EchoPort}}   # UDP through Spectrum; the origin decodes SPP
  ip netns exec {{.L.Client.Name}} dig @{{.L.DNS.Addr}} +short {{.SSHName}} A
  vtysh --vty_socket {{.VTY}} -c 'show bgp ipv4 unicast'       # the peer's view: {{.Prefix}} from AS{{.EdgeAS}}
  ip -n {{.L.Peer.Name}} route show proto bgp
  {{.Edgectl}} status
  {{.Edgectl}} lookup {{.Delegated}}
  A={{.D.A.Account}}; H=(-H 'X-Auth-Email: {{.D.A.Email}}' -H 'X-Auth-Key: {{.D.A.Key}}')
  curl -s "${H[@]}" {{.L.API}}/client/v4/accounts/$A/addressing/prefixes | jq -c '.result[] | {cidr, approved, advertised}'
  Withdraw, and the route leaves the peer (new connections from the client then fail):
  curl -s "${H[@]}" -X PATCH {{.L.API}}/client/v4/accounts/$A/addressing/prefixes/{{.D.PrefixID}}/bgp/prefixes/{{.D.BGPPrefixID}} -d '{"on_demand":{"advertised":false}}' | jq -c .result.on_demand
`))

// Hints is what to try in the lab after d loaded the demo, for people:
// every command runs as printed from the repository's root.
func (l *Lab) Hints(d *Demo) string {
	data := struct {
		L                 *Lab
		D                 *Demo
		PeerAS, EdgeAS    int
		SSHPort, EchoPort int
		Prefix, Spectrum  netip.Prefix
		Delegated         netip.Addr
		SSHName, EchoName string
		Dir, VTY, Edgectl string
	}{
		L: l, D: d, PeerAS: PeerAS, EdgeAS: EdgeAS, SSHPort: SSHPort, EchoPort: EchoPort,
		Prefix: DemoPrefix, Spectrum: DemoSpectrum, Delegated: DemoDelegated,
		SSHName: SSHName, EchoName: EchoName,
		Dir: relPath(l.Dir), VTY: relPath(l.FRR.Dir), Edgectl: "bin/edgectl",
	}
	if l.API != "http://127.0.0.1:8080" {
		data.Edgectl += " -api " + l.API
	}
	var b strings.Builder
	if err := hintsTmpl.Execute(&b, data); err != nil {
		return "edgelab: hints: " + err.Error() // a template bug; the tests catch it
	}
	return b.String()
}

// relPath returns p relative to the working directory when it lies below
// it, so printed commands stay short.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
