package registry

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxParallelDNS bounds concurrent TXT queries for one prefix (an IPv4 /17
// needs 128 zones).
const maxParallelDNS = 8

// zoneToken is what one reverse zone says about the token.
type zoneToken int

const (
	zoneNoRecords zoneToken = iota
	zoneMatch
	zoneWrong
)

// dnsOwnership queries TXT cf-validation.<zone> for every zone and combines
// the answers: all match is valid, none has records is missing, anything
// else is invalid. A failed query (timeout, SERVFAIL, REFUSED) is an error.
func dnsOwnership(ctx context.Context, server string, timeout time.Duration, zones []string, token string) (State, error) {
	results := make([]zoneToken, len(zones))
	errs := make([]error, len(zones))
	sem := make(chan struct{}, maxParallelDNS)
	var wg sync.WaitGroup
	for i, z := range zones {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = lookupToken(ctx, server, timeout, cfLabel+"."+z, token)
		})
	}
	wg.Wait()
	var match, none int
	for i := range zones {
		if errs[i] != nil {
			return "", errs[i]
		}
		switch results[i] {
		case zoneMatch:
			match++
		case zoneNoRecords:
			none++
		}
	}
	switch {
	case match == len(zones):
		return StateValid, nil
	case none == len(zones):
		return StateMissing, nil
	}
	return StateInvalid, nil
}

func lookupToken(ctx context.Context, server string, timeout time.Duration, name, token string) (zoneToken, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return 0, fmt.Errorf("querying txt %q at %q: %w", name, server, err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return 0, fmt.Errorf("querying txt %q at %q: rcode %s", name, server, dns.RcodeToString[in.Rcode])
	}
	res := zoneNoRecords
	for _, rr := range in.Answer {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		res = zoneWrong
		if txtHasToken(strings.Join(txt.Txt, ""), token) {
			return zoneMatch, nil
		}
	}
	return res, nil
}

// txtHasToken accepts the bare token (what Cloudflare documents) and
// "cf-validation=<token>" / "cf-validation: <token>".
func txtHasToken(v, token string) bool {
	v = strings.TrimSpace(v)
	if v == token {
		return true
	}
	t, ok := cfToken(v)
	return ok && t == token
}
