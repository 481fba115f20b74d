package edgelab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/netlab"
)

// Lab addresses and ASes. Links are numbered in creation order by netlab's
// subnet plan; Up checks that the plan still gives these.
const (
	PeerAS = 65001
	EdgeAS = 13335
	// Ports of the demo origin services and of the lab's Spectrum apps.
	SSHPort  = 22
	EchoPort = 7
)

// Names of the lab's namespaces, as AddNetns gets them.
var Namespaces = []string{"edge", "peer", "client", "origin"}

// Options configure Up.
type Options struct {
	// Dir holds everything the lab writes: edged's config and state, the
	// registry files, FRR's runtime directory, logs. Plain labs use it as
	// is; test labs (Plain false) get a fresh directory under it.
	Dir string
	// Plain names the namespaces exactly edge, peer, client and origin (for
	// people typing commands); otherwise netlab's PID-tagged names (tests).
	Plain bool
	// Edged is the edged binary. Origin is the command line that runs the
	// demo origin (edgectl lab origin); Up appends -tcp and -udp.
	Edged  string
	Origin []string
	// API is edged's API address in the host namespace. Default
	// 127.0.0.1:8080; "127.0.0.1:0" picks a free port.
	API string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Lab is a running edgesim lab:
//
//	client ── peer (FRR, AS65001) ── edge (edged, AS13335) ── origin
//
// edged runs in the edge namespace (BGP speaker, Spectrum proxy on AnyIP
// routes, DNS) with its API socket opened in the host namespace and
// inherited; FRR (bgpd with zebra) in peer installs the routes edged
// announces, so client traffic to an advertised prefix reaches the edge;
// origin runs the demo origin services. Close tears everything down.
type Lab struct {
	Dir                        string
	Edge, Peer, Client, Origin *netlab.Netns
	API                        string         // http://host:port of edged's API
	EdgeAddr, PeerAddr         netip.Addr     // the edge-peer link, IPv4
	EdgeAddr6, PeerAddr6       netip.Addr     // and IPv6
	ClientAddr, OriginAddr     netip.Addr     // IPv4 of client and origin
	DNS                        netip.AddrPort // edged's DNS, reachable from client
	FRR                        *netlab.FRR

	net      *netlab.Lab
	opts     Options
	apiFile  *os.File // the API socket, inherited by each edged
	apiLn    net.Listener
	cfgPath  string
	mu       sync.Mutex
	edged    *netlab.Proc
	progress io.Writer
}

// CheckTools reports the programs the lab runs that are missing, with the
// Debian package of each (`make deps` installs them all).
func CheckTools() error {
	tools := []struct{ path, pkg string }{
		{"ip", "iproute2"}, {"ss", "iproute2"}, {"sysctl", "procps"}, {"vtysh", "frr"},
		{filepath.Join(netlab.FRRBinDir, "bgpd"), "frr"}, {filepath.Join(netlab.FRRBinDir, "zebra"), "frr"},
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t.path); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", t.path, t.pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the lab needs %s; `make deps` installs them", strings.Join(missing, ", "))
	}
	return nil
}

// Up builds the lab and starts its daemons; on error it removes whatever
// it built. The demo state is not loaded: see LoadDemo.
func Up(ctx context.Context, opts Options) (l *Lab, err error) {
	if opts.API == "" {
		opts.API = "127.0.0.1:8080"
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if err := CheckTools(); err != nil {
		return nil, err
	}
	l = &Lab{opts: opts, progress: opts.Progress}
	if opts.Plain {
		l.net, err = netlab.NewPlain(opts.Dir)
	} else {
		l.net, err = netlab.New(opts.Dir)
	}
	if err != nil {
		return nil, err
	}
	l.Dir = l.net.Dir
	defer func() {
		if err != nil {
			l.Close()
		}
	}()

	l.step("creating namespaces %s", strings.Join(Namespaces, ", "))
	nss := make([]*netlab.Netns, len(Namespaces))
	for i, name := range Namespaces {
		if nss[i], err = l.net.AddNetns(name); err != nil {
			return l, err
		}
	}
	l.Edge, l.Peer, l.Client, l.Origin = nss[0], nss[1], nss[2], nss[3]
	if err := l.wire(); err != nil {
		return l, err
	}
	if err := l.startFRR(ctx); err != nil {
		return l, err
	}
	if err := l.startOrigin(ctx); err != nil {
		return l, err
	}
	if err := l.writeEdgedConfig(); err != nil {
		return l, err
	}
	l.step("opening edged's API on %s (host namespace)", opts.API)
	ln, err := net.Listen("tcp", opts.API)
	if err != nil {
		return l, fmt.Errorf("listening for edged's API: %w (is another edged or lab running? `edgectl lab down`)", err)
	}
	l.apiLn = ln
	if l.apiFile, err = ln.(*net.TCPListener).File(); err != nil {
		return l, err
	}
	l.API = "http://" + ln.Addr().String()
	if err := l.StartEdged(ctx); err != nil {
		return l, err
	}
	l.step("waiting for BGP sessions edge-peer (IPv4 and IPv6)")
	for _, a := range []netip.Addr{l.EdgeAddr, l.EdgeAddr6} {
		if err := l.FRR.WaitEstablished(ctx, a); err != nil {
			return l, fmt.Errorf("%w (edged's log: %s)", err, filepath.Join(l.Dir, "edged.log"))
		}
	}
	return l, nil
}

func (l *Lab) step(format string, args ...any) {
	fmt.Fprintf(l.progress, "lab: "+format+"\n", args...)
}

// wire links the namespaces and sets addresses, routes and forwarding.
func (l *Lab) wire() error {
	l.step("linking client-peer-edge-origin (veth pairs, IPv4 and IPv6)")
	pe, err := l.net.LinkNetns(l.Peer, l.Edge)
	if err != nil {
		return err
	}
	pc, err := l.net.LinkNetns(l.Peer, l.Client)
	if err != nil {
		return err
	}
	eo, err := l.net.LinkNetns(l.Edge, l.Origin)
	if err != nil {
		return err
	}
	l.PeerAddr, l.EdgeAddr = pe.A4.Addr(), pe.B4.Addr()
	l.PeerAddr6, l.EdgeAddr6 = pe.A6.Addr(), pe.B6.Addr()
	l.ClientAddr, l.OriginAddr = pc.B4.Addr(), eo.B4.Addr()
	l.DNS = netip.AddrPortFrom(l.EdgeAddr, 53)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	steps := []struct {
		ns   *netlab.Netns
		args []string
	}{
		// The client and the edge reach everything through the peer; the
		// origin through the edge (it never sees the client directly).
		{l.Client, []string{"ip", "route", "add", "default", "via", pc.A4.Addr().String()}},
		{l.Client, []string{"ip", "-6", "route", "add", "default", "via", pc.A6.Addr().String()}},
		{l.Edge, []string{"ip", "route", "add", "default", "via", pe.A4.Addr().String()}},
		{l.Edge, []string{"ip", "-6", "route", "add", "default", "via", pe.A6.Addr().String()}},
		{l.Origin, []string{"ip", "route", "add", "default", "via", eo.A4.Addr().String()}},
		{l.Origin, []string{"ip", "-6", "route", "add", "default", "via", eo.A6.Addr().String()}},
		{l.Peer, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{l.Peer, []string{"sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"}},
	}
	for _, s := range steps {
		if _, err := s.ns.Exec(ctx, s.args[0], s.args[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// startFRR starts bgpd with zebra in the peer namespace, peering with the
// edge over IPv4 and IPv6 and installing what it learns into the kernel.
func (l *Lab) startFRR(ctx context.Context) error {
	l.step("starting FRR (bgpd + zebra, AS%d) in %s", PeerAS, l.Peer.Name)
	conf := fmt.Sprintf(`frr defaults traditional
hostname peer
log file %s informational
!
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor %s remote-as %d
 neighbor %s description edged
 neighbor %s timers 3 9
 neighbor %s timers connect 1
 neighbor %s remote-as %d
 neighbor %s description edged
 neighbor %s timers 3 9
 neighbor %s timers connect 1
 address-family ipv4 unicast
  neighbor %s activate
 exit-address-family
 address-family ipv6 unicast
  neighbor %s activate
 exit-address-family
`, filepath.Join(l.Dir, "peer", "bgpd.log"), PeerAS, l.PeerAddr,
		l.EdgeAddr, EdgeAS, l.EdgeAddr, l.EdgeAddr, l.EdgeAddr,
		l.EdgeAddr6, EdgeAS, l.EdgeAddr6, l.EdgeAddr6, l.EdgeAddr6,
		l.EdgeAddr, l.EdgeAddr6)
	var err error
	l.FRR, err = l.net.StartFRR(ctx, l.Peer, "peer", conf, true)
	return err
}

// startOrigin starts the demo origin services in the origin namespace and
// waits until they listen.
func (l *Lab) startOrigin(ctx context.Context) error {
	if len(l.opts.Origin) == 0 {
		return errors.New("edgelab: Options.Origin is empty")
	}
	l.step("starting the demo origin in %s: tcp/%d (prints the PROXY header) and udp/%d (SPP echo)", l.Origin.Name, SSHPort, EchoPort)
	args := append(l.opts.Origin[1:len(l.opts.Origin):len(l.opts.Origin)],
		"-tcp", fmt.Sprintf(":%d", SSHPort), "-udp", fmt.Sprintf(":%d", EchoPort))
	p, err := l.net.Start(l.Origin, filepath.Join(l.Dir, "origin.log"), nil, l.opts.Origin[0], args...)
	if err != nil {
		return err
	}
	return p.Await(ctx, "the demo origin to listen", func() bool {
		out, err := l.Origin.Exec(ctx, "ss", "-Hltn", fmt.Sprintf("sport = :%d", SSHPort))
		return err == nil && len(bytes.TrimSpace(out)) > 0
	})
}

// writeEdgedConfig writes the registry files (unless they exist: users edit
// them) and edged's config: the demo config with the lab's listeners,
// state, registry and BGP peers.
func (l *Lab) writeEdgedConfig() error {
	reg := filepath.Join(l.Dir, "registry")
	if err := os.MkdirAll(reg, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"irr.rpsl", "roas.json"} {
		dst := filepath.Join(reg, name)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		b, err := fs.ReadFile(config.DemoRegistry, "demo/"+name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	peer := func(a netip.Addr) map[string]any {
		return map[string]any{"address": a.String(), "peer_as": PeerAS, "hold_time": "9s", "keepalive": "3s", "connect_retry": "1s"}
	}
	b, err := overlay(config.DemoYAML(), map[string]any{
		"listen": map[string]any{"api": l.opts.API, "dns": l.DNS.String(), "proxy": true, "anyip": true},
		"state":  map[string]any{"path": filepath.Join(l.Dir, "edgesim.db")},
		"validation": map[string]any{
			"irr_files": []string{filepath.Join(reg, "irr.rpsl")},
			"roa_file":  filepath.Join(reg, "roas.json"),
		},
		"bgp": map[string]any{
			"router_id":   l.EdgeAddr.String(),
			"local_as":    EdgeAS,
			"next_hop4":   l.EdgeAddr.String(),
			"next_hop6":   l.EdgeAddr6.String(),
			"communities": []string{"13335:100"},
			"peers":       []any{peer(l.PeerAddr), peer(l.PeerAddr6)},
		},
	})
	if err != nil {
		return err
	}
	if _, err := config.Decode(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("edgelab: the lab's edged config is invalid: %w", err)
	}
	l.cfgPath = filepath.Join(l.Dir, "edged.yaml")
	return os.WriteFile(l.cfgPath, b, 0o644)
}

// overlay replaces (or adds) top-level keys of a YAML mapping document,
// keeping the rest (and its comments) as it is.
func overlay(doc []byte, keys map[string]any) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("overlay: not a YAML mapping")
	}
	m := root.Content[0]
	for k, v := range keys {
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return nil, err
		}
		found := false
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				m.Content[i+1], found = &n, true
			}
		}
		if !found {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &n)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	return out.Bytes(), enc.Close()
}

// StartEdged starts edged in the edge namespace on the lab's config and
// API socket and waits until its API answers. After StopEdged it is a
// restart: same state file, same socket (clients queue meanwhile).
func (l *Lab) StartEdged(ctx context.Context) error {
	l.step("starting edged in %s (log %s)", l.Edge.Name, filepath.Join(l.Dir, "edged.log"))
	p, err := l.net.Start(l.Edge, filepath.Join(l.Dir, "edged.log"), []*os.File{l.apiFile},
		l.opts.Edged, "-config", l.cfgPath, "-listen-fd", "3")
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.edged = p
	l.mu.Unlock()
	hc := &http.Client{Timeout: 2 * time.Second}
	return p.Await(ctx, "edged's API", func() bool {
		resp, err := hc.Get(l.API + "/admin/v1/snapshot")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StopEdged stops edged with SIGTERM (it withdraws its routes first) and
// waits for it to exit.
func (l *Lab) StopEdged() {
	l.mu.Lock()
	p := l.edged
	l.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// EdgedDone is closed when the current edged exits.
func (l *Lab) EdgedDone() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.edged.Done()
}

// Close stops every daemon (edged first, so it withdraws while FRR still
// listens) and removes the namespaces. The lab directory stays (state and
// logs). It is idempotent.
func (l *Lab) Close() error {
	if l.net == nil {
		return nil
	}
	l.step("tearing down (stopping edged, FRR and the origin; removing the namespaces)")
	l.StopEdged()
	err := l.net.Close(false) // a plain lab keeps its directory
	if l.apiFile != nil {
		l.apiFile.Close()
	}
	if l.apiLn != nil {
		l.apiLn.Close()
	}
	return err
}

// WaitRoute waits up to 30s until the peer holds a route for p (present)
// or none.
func (l *Lab) WaitRoute(ctx context.Context, p netip.Prefix, present bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return netlab.Poll(ctx, fmt.Sprintf("the peer to have %s=%v", p, present), func() (bool, error) {
		rs, err := l.FRR.Route(ctx, p)
		return err == nil && (len(rs) > 0) == present, err
	})
}
