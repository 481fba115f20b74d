package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// resolver resolves origin_dns names with miekg/dns and caches answers for
// the app's TTL (or the records' TTL).
type resolver struct {
	server string // host:port; empty: from /etc/resolv.conf on first use
	mu     sync.Mutex
	cache  map[OriginDNS]dnsEntry
}

type dnsEntry struct {
	addrs   []netip.AddrPort // port 0 unless from SRV
	expires time.Time
}

func newResolver(server string) *resolver {
	return &resolver{server: server, cache: map[OriginDNS]dnsEntry{}}
}

func (r *resolver) serverAddr() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.server != "" {
		return r.server, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("reading resolver config %q: %w", "/etc/resolv.conf", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("reading resolver config %q: no nameserver", "/etc/resolv.conf")
	}
	r.server = net.JoinHostPort(cc.Servers[0], cc.Port)
	return r.server, nil
}

// resolve returns the origin addresses for o, in order (A before AAAA; SRV
// by priority then weight).
func (r *resolver) resolve(ctx context.Context, o *OriginDNS) ([]netip.AddrPort, error) {
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[*o]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.addrs, nil
	}
	server, err := r.serverAddr()
	if err != nil {
		return nil, err
	}
	var (
		addrs []netip.AddrPort
		ttl   uint32
	)
	switch o.Type {
	case "SRV":
		addrs, ttl, err = r.srv(ctx, server, o.Name)
	case "A":
		addrs, ttl, err = r.query(ctx, server, o.Name, dns.TypeA, 0)
	case "AAAA":
		addrs, ttl, err = r.query(ctx, server, o.Name, dns.TypeAAAA, 0)
	case "":
		var a6 []netip.AddrPort
		var t6 uint32
		addrs, ttl, err = r.query(ctx, server, o.Name, dns.TypeA, 0)
		a6, t6, err6 := r.query(ctx, server, o.Name, dns.TypeAAAA, 0)
		addrs, ttl, err = append(addrs, a6...), minTTL(ttl, t6), errors.Join(err, err6)
		if len(addrs) > 0 {
			err = nil
		}
	default:
		return nil, fmt.Errorf("resolving origin %q: unknown type %q", o.Name, o.Type)
	}
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving origin %q: no addresses", o.Name)
	}
	d := time.Duration(ttl) * time.Second
	if o.TTL > 0 {
		d = o.TTL
	}
	r.mu.Lock()
	r.cache[*o] = dnsEntry{addrs: addrs, expires: now.Add(d)}
	r.mu.Unlock()
	return addrs, nil
}

func minTTL(a, b uint32) uint32 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	return min(a, b)
}

func (r *resolver) exchange(ctx context.Context, server, name string, qt uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qt)
	c := &dns.Client{Timeout: 5 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, fmt.Errorf("resolving origin %q %s: %w", name, dns.TypeToString[qt], err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("resolving origin %q %s: rcode %s", name, dns.TypeToString[qt], dns.RcodeToString[in.Rcode])
	}
	return in, nil
}

func (r *resolver) query(ctx context.Context, server, name string, qt uint16, port uint16) ([]netip.AddrPort, uint32, error) {
	in, err := r.exchange(ctx, server, name, qt)
	if err != nil {
		return nil, 0, err
	}
	addrs, ttl := addrsOf(in.Answer, port)
	return addrs, ttl, nil
}

func addrsOf(rrs []dns.RR, port uint16) ([]netip.AddrPort, uint32) {
	var (
		out []netip.AddrPort
		ttl uint32
	)
	for _, rr := range rrs {
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, netip.AddrPortFrom(a.Unmap(), port))
			ttl = minTTL(ttl, rr.Header().Ttl)
		}
	}
	return out, ttl
}

func (r *resolver) srv(ctx context.Context, server, name string) ([]netip.AddrPort, uint32, error) {
	in, err := r.exchange(ctx, server, name, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var srvs []*dns.SRV
	for _, rr := range in.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			srvs = append(srvs, s)
		}
	}
	slices.SortStableFunc(srvs, func(a, b *dns.SRV) int {
		if a.Priority != b.Priority {
			return int(a.Priority) - int(b.Priority)
		}
		return int(b.Weight) - int(a.Weight)
	})
	var (
		out []netip.AddrPort
		ttl uint32
	)
	for _, s := range srvs {
		ttl = minTTL(ttl, s.Hdr.Ttl)
		var extra []dns.RR
		for _, rr := range in.Extra {
			if dns.CanonicalName(rr.Header().Name) == dns.CanonicalName(s.Target) {
				extra = append(extra, rr)
			}
		}
		addrs, t := addrsOf(extra, s.Port)
		if len(addrs) == 0 {
			a4, t4, _ := r.query(ctx, server, s.Target, dns.TypeA, s.Port)
			a6, t6, _ := r.query(ctx, server, s.Target, dns.TypeAAAA, s.Port)
			addrs, t = append(a4, a6...), minTTL(t4, t6)
		}
		out = append(out, addrs...)
		ttl = minTTL(ttl, t)
	}
	return out, ttl, nil
}
