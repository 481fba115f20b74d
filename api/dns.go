package api

import (
	"time"

	"github.com/edgesim/edgesim/config"
)

// dnsAnswerView is one config.DNSAnswer on the admin API.
type dnsAnswerView struct {
	Name      string   `json:"name"`
	Zone      string   `json:"zone"`
	A         []string `json:"a"`
	AAAA      []string `json:"aaaa"`
	CNAME     string   `json:"cname,omitempty"`
	TXT       []string `json:"txt,omitempty"`
	TTL       uint32   `json:"ttl"`
	Source    string   `json:"source"`
	AppIDs    []string `json:"app_ids,omitempty"`
	RecordIDs []string `json:"record_ids,omitempty"`
	MapIDs    []string `json:"address_map_ids,omitempty"`
}

type dnsView struct {
	Now     time.Time       `json:"now"`
	Answers []dnsAnswerView `json:"answers"`
}

// getDNS compiles the current state and returns the answer set the DNS
// responder serves from such a snapshot.
func (s *Server) getDNS(c *call) (any, error) {
	now := s.clock.Now()
	snap, err := config.CompileWith(s.State(), now, config.CompileOptions{AnycastPool: s.daemon.Pool(), ManagedAddressMaps: s.daemon.ManagedAddressMaps()})
	if err != nil {
		return nil, err
	}
	out := dnsView{Now: now.UTC(), Answers: []dnsAnswerView{}}
	for _, a := range snap.DNSAnswers() {
		v := dnsAnswerView{Name: a.Name, Zone: a.Zone, A: []string{}, AAAA: []string{}, CNAME: a.CNAME, TXT: a.TXT, TTL: a.TTL, Source: a.Source, AppIDs: a.AppIDs, RecordIDs: a.RecordIDs, MapIDs: a.AddressMapIDs}
		for _, ip := range a.A {
			v.A = append(v.A, ip.String())
		}
		for _, ip := range a.AAAA {
			v.AAAA = append(v.AAAA, ip.String())
		}
		out.Answers = append(out.Answers, v)
	}
	return out, nil
}
