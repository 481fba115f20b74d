package dnsmap

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's counters. The hot path counts into a tally
// per batch and adds the tally here once per batch.
type metrics struct {
	responses   *prometheus.CounterVec // proto, rcode
	zoneQueries *prometheus.CounterVec // zone
	dropped     *prometheus.CounterVec // proto
	truncated   prometheus.Counter
	tcpRejected prometheus.Counter

	byRcode [2][rcodeBadVers + 1]prometheus.Counter // [proto][rcode]
	drop    [2]prometheus.Counter
}

const (
	protoUDP = 0
	protoTCP = 1
)

var rcodeNames = map[int]string{
	rcodeNoError: "NOERROR", rcodeFormErr: "FORMERR", rcodeServFail: "SERVFAIL",
	rcodeNXDomain: "NXDOMAIN", rcodeNotImp: "NOTIMP", rcodeRefused: "REFUSED",
	rcodeNotAuth: "NOTAUTH", rcodeBadVers: "BADVERS",
}

func newMetrics() *metrics {
	m := &metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "dns", Name: "responses_total",
			Help: "DNS responses sent, by transport and response code.",
		}, []string{"proto", "rcode"}),
		zoneQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "dns", Name: "zone_queries_total",
			Help: "DNS queries answered from each zone.",
		}, []string{"zone"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "dns", Name: "dropped_total",
			Help: "DNS messages not answered (responses, or shorter than a header).",
		}, []string{"proto"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "dns", Name: "truncated_total",
			Help: "UDP responses sent with TC because the answer did not fit.",
		}),
		tcpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "edgesim", Subsystem: "dns", Name: "tcp_rejected_total",
			Help: "TCP connections closed at once because TCPMaxConns were open.",
		}),
	}
	for p, proto := range []string{"udp", "tcp"} {
		for rc, name := range rcodeNames {
			m.byRcode[p][rc] = m.responses.WithLabelValues(proto, name)
		}
		m.drop[p] = m.dropped.WithLabelValues(proto)
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.responses, m.zoneQueries, m.dropped, m.truncated, m.tcpRejected} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

// tally counts one batch of responses without touching shared memory.
type tally struct {
	rc      [rcodeBadVers + 1]uint32
	dropped uint32
	trunc   uint32
	zones   []uint32 // by zone index of the batch's Set
	touched []int32
}

func (t *tally) reset(nzones int) {
	if cap(t.zones) < nzones {
		t.zones = make([]uint32, nzones)
		t.touched = make([]int32, 0, 64)
	}
	t.zones = t.zones[:nzones]
}

func (t *tally) add(r result) {
	if r.rcode < 0 {
		t.dropped++
		return
	}
	if r.rcode < len(t.rc) {
		t.rc[r.rcode]++
	}
	if r.truncated {
		t.trunc++
	}
	if r.zone >= 0 {
		if t.zones[r.zone] == 0 {
			t.touched = append(t.touched, int32(r.zone))
		}
		t.zones[r.zone]++
	}
}

// flush adds the tally to the counters and clears it.
func (t *tally) flush(m *metrics, b *bound, proto int) {
	for rc, n := range t.rc {
		if n != 0 {
			if c := m.byRcode[proto][rc]; c != nil {
				c.Add(float64(n))
			}
			t.rc[rc] = 0
		}
	}
	if t.dropped != 0 {
		m.drop[proto].Add(float64(t.dropped))
		t.dropped = 0
	}
	if t.trunc != 0 {
		m.truncated.Add(float64(t.trunc))
		t.trunc = 0
	}
	for _, z := range t.touched {
		b.zones[z].Add(float64(t.zones[z]))
		t.zones[z] = 0
	}
	t.touched = t.touched[:0]
}
