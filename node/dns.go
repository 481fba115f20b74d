package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/config"
	"github.com/edgesim/edgesim/dnsmap"
)

// Synthetic zone data. edgesim has no real name servers: every zone gets
// an SOA naming ns1.<zone> and hostmaster.<zone>, and NS records for
// ns1.<zone> and ns2.<zone>, which have no addresses unless the zone's own
// records give them some. They exist because dnsmap (like any
// authoritative server) needs an SOA and NS at each apex; the API reports
// other placeholder names (ns1/ns2.edgesim.test) for the zones' name
// servers.
const (
	soaTTL     = 3600
	nsTTL      = 86400
	soaRefresh = 10000
	soaRetry   = 2400
	soaExpire  = 604800
	soaMinimum = 300 // negative-caching TTL (RFC 2308)
)

// dnsUpdater turns published snapshots into dnsmap answer sets and stores
// them in the DNS server. Building a set precomputes every answer, so
// snapshots are handed over through a one-slot mailbox (as to the BGP
// announcer): the reconciler never waits and the server converges on the
// latest snapshot. A set that fails to build keeps the previous one.
type dnsUpdater struct {
	srv   *dnsmap.Server
	zones []config.Zone // the config's zones; the snapshot has the API-created ones
	log   *slog.Logger

	box *mailbox

	buildMu sync.Mutex // serializes update; guards the fields below
	built   uint64     // generation of the last snapshot served (or tried)
	lastErr string     // the last build error logged, to log each failure once
}

func newDNSUpdater(srv *dnsmap.Server, zones []config.Zone, log *slog.Logger) *dnsUpdater {
	return &dnsUpdater{srv: srv, zones: zones, log: log, box: newMailbox()}
}

// publish hands s to the updater; it never blocks.
func (u *dnsUpdater) publish(s *config.Snapshot) { u.box.Put(s) }

// run builds and stores the latest snapshot's answer set until ctx is done.
func (u *dnsUpdater) run(ctx context.Context) {
	for {
		s, ok := u.box.Take(ctx)
		if !ok {
			return
		}
		u.update(s)
	}
}

// update builds the answer set of s and stores it, unless a snapshot at
// least as new was already handled. A build error is logged (once while it
// stays the same) and the previous set keeps being served.
func (u *dnsUpdater) update(s *config.Snapshot) {
	u.buildMu.Lock()
	defer u.buildMu.Unlock()
	if s.Generation != 0 && s.Generation <= u.built {
		return
	}
	u.built = s.Generation
	zones, skipped := dnsZones(s, u.zones)
	set, err := dnsmap.Build(zones)
	if err != nil {
		if msg := err.Error(); msg != u.lastErr {
			u.lastErr = msg
			u.log.Error("building the dns answer set; keeping the previous one", "generation", s.Generation, "err", err)
		}
		return
	}
	if u.lastErr != "" {
		u.lastErr = ""
		u.log.Info("dns answer set builds again", "generation", s.Generation)
	}
	u.srv.Store(set)
	u.log.Debug("dns answer set stored", "generation", s.Generation, "zones", len(zones), "skipped_answers", skipped)
}

// dnsZones returns the zone data edgesim serves for s: one zone per
// configured zone (extra) and per zone of the snapshot, each with the
// synthetic SOA (serial: the snapshot's generation) and NS records, and
// every answer of the snapshot's answer set in its zone as A, AAAA, CNAME
// and TXT records with the answer's TTL. An answer that is a CNAME gets
// only the CNAME (nothing may sit beside one). skipped counts the answers
// that cannot be served: outside every known zone, or a CNAME at an apex.
// A name whose answer has no records at all is not served (NXDOMAIN).
//
// The serial restarts with the generation when edged restarts; zone
// transfers are refused, so nothing depends on it growing.
func dnsZones(s *config.Snapshot, extra []config.Zone) (zones []dnsmap.Zone, skipped int) {
	idx := map[string]int{} // zone name (lowercase, no dot) -> index into zones
	for _, z := range slices.Concat(extra, s.Zones()) {
		name := normName(z.Name)
		if _, dup := idx[name]; dup || name == "" {
			continue
		}
		idx[name] = len(zones)
		zones = append(zones, dnsmap.Zone{Name: dns.Fqdn(name), Records: apexRecords(name, uint32(s.Generation))})
	}
	for _, a := range s.DNSAnswers() {
		name, zone := normName(a.Name), normName(a.Zone)
		i, ok := idx[zone]
		if !ok || !dns.IsSubDomain(dns.Fqdn(zone), dns.Fqdn(name)) || (a.CNAME != "" && name == zone) {
			skipped++
			continue
		}
		zones[i].Records = append(zones[i].Records, answerRecords(a, dns.Fqdn(name))...)
	}
	return zones, skipped
}

// apexRecords returns the synthetic SOA and NS records of zone.
func apexRecords(zone string, serial uint32) []dns.RR {
	apex := dns.Fqdn(zone)
	hdr := func(t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: apex, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	return []dns.RR{
		&dns.SOA{
			Hdr: hdr(dns.TypeSOA, soaTTL), Ns: "ns1." + apex, Mbox: "hostmaster." + apex,
			Serial: serial, Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: soaMinimum,
		},
		&dns.NS{Hdr: hdr(dns.TypeNS, nsTTL), Ns: "ns1." + apex},
		&dns.NS{Hdr: hdr(dns.TypeNS, nsTTL), Ns: "ns2." + apex},
	}
}

// answerRecords returns the records of one answer, owned by owner (fully
// qualified).
func answerRecords(a config.DNSAnswer, owner string) []dns.RR {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: a.TTL}
	}
	if a.CNAME != "" {
		return []dns.RR{&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(normName(a.CNAME))}}
	}
	out := make([]dns.RR, 0, len(a.A)+len(a.AAAA)+len(a.TXT))
	for _, ip := range a.A {
		out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: ip.AsSlice()})
	}
	for _, ip := range a.AAAA {
		out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip.AsSlice()})
	}
	for _, t := range a.TXT {
		out = append(out, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txtStrings(t)})
	}
	return out
}

// txtStrings splits a TXT record's content into character-strings of at
// most 255 bytes, escaping backslashes (miekg/dns reads escapes when it
// packs them).
func txtStrings(content string) []string {
	var out []string
	for len(content) > 255 {
		out = append(out, content[:255])
		content = content[255:]
	}
	out = append(out, content)
	for i, s := range out {
		out[i] = strings.ReplaceAll(s, `\`, `\\`)
	}
	return out
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

// dnsNode is the authoritative DNS responder of a running edge: one UDP
// socket and one TCP listener on the same address, served by a dnsmap
// Server fed by a dnsUpdater.
type dnsNode struct {
	srv  *dnsmap.Server
	upd  *dnsUpdater
	conn *net.UDPConn
	ln   *net.TCPListener
	log  *slog.Logger
	errs chan error // serving errors other than a shutdown, buffered(2)

	stop      context.CancelFunc // ends the updater and the serving loops
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// listenDNS binds UDP and TCP on addr (with port 0, TCP takes the port UDP
// got). The server answers nothing until start. On error nothing stays
// open.
func listenDNS(addr string, zones []config.Zone, reg prometheus.Registerer, log *slog.Logger) (_ *dnsNode, err error) {
	ap, err := netip.ParseAddrPort(addr) // validated by config
	if err != nil {
		return nil, fmt.Errorf("parsing the dns address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("listening for dns on udp %s: %w", addr, err)
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), port)))
	if err != nil {
		return nil, fmt.Errorf("listening for dns on tcp %s: %w", addr, err)
	}
	srv, err := dnsmap.New(dnsmap.Options{Logger: log, Registerer: reg})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("starting the dns server: %w", err)
	}
	log = log.With("component", "node")
	return &dnsNode{
		srv: srv, upd: newDNSUpdater(srv, zones, log), conn: conn, ln: ln, log: log,
		errs: make(chan error, 2), stop: func() {},
	}, nil
}

// addr returns the address the responder is bound to (UDP and TCP share
// it).
func (n *dnsNode) addr() string { return n.conn.LocalAddr().String() }

// publish hands a published snapshot to the updater; it never blocks.
func (n *dnsNode) publish(s *config.Snapshot) { n.upd.publish(s) }

// start stores the answer set of first, then serves: the updater follows
// the snapshots published from now on.
func (n *dnsNode) start(first *config.Snapshot) {
	n.upd.update(first)
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.wg.Go(func() { n.upd.run(ctx) })
	n.wg.Go(func() { n.serve(n.srv.ServeUDP(ctx, n.conn)) })
	n.wg.Go(func() { n.serve(n.srv.ServeTCP(ctx, n.ln)) })
	n.log.Info("dns listening", "addr", n.conn.LocalAddr().String())
}

// serve reports the error a serving loop returned with, unless it stopped
// for a shutdown.
func (n *dnsNode) serve(err error) {
	if err != nil && !errors.Is(err, dnsmap.ErrServerClosed) {
		n.errs <- fmt.Errorf("serving dns: %w", err)
	}
}

// close stops accepting queries, waits for the answers in flight until ctx
// is done, and closes the sockets. Only the first call does anything.
func (n *dnsNode) close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.closeErr = n.srv.Shutdown(ctx)
		n.stop()
		n.wg.Wait()
		n.conn.Close()
		n.ln.Close()
	})
	return n.closeErr
}
