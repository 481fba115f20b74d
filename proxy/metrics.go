package proxy

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	refusedNotServed = iota
	refusedNoApp
	refusedFlowTableFull
	refusedTruncated
	refusedOriginError
	refusedN
)

var refusedReasons = [refusedN]string{"not_served", "no_app", "flow_table_full", "truncated", "origin_error"}

type metrics struct {
	conns, firewall, originFail, udpFlows *prometheus.CounterVec
	bytes                                 *prometheus.CounterVec
	refused                               [refusedN]prometheus.Counter
	acceptErrors                          prometheus.Counter
	active, activeFlows                   prometheus.Gauge

	apps sync.Map // app ID -> *appMetrics
}

// appMetrics holds one app's counters, resolved once per app ID (and
// cached in the App for the Proxy that resolved it last).
type appMetrics struct {
	m                                     *metrics
	conns, firewall, originFail, udpFlows prometheus.Counter
	toOrigin, toClient                    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "edgesim", Subsystem: "proxy", Name: name, Help: help}, labels)
	}
	m := &metrics{
		conns:      cv("connections_total", "TCP connections proxied to an origin attempt, per app.", "app"),
		firewall:   cv("firewall_refusals_total", "TCP connections and UDP datagrams (of would-be flows) refused by ip_firewall, per app.", "app"),
		originFail: cv("origin_failures_total", "Failed origin connect attempts or resolutions, per app.", "app"),
		udpFlows:   cv("udp_flows_total", "UDP flows created, per app.", "app"),
		bytes:      cv("bytes_total", "Payload bytes relayed, per app and direction (to_origin, to_client).", "app", "direction"),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "edgesim", Subsystem: "proxy",
			Name: "accept_errors_total", Help: "Temporary accept errors (e.g. out of file descriptors)."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "edgesim", Subsystem: "proxy",
			Name: "active_connections", Help: "TCP connections being proxied."}),
		activeFlows: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "edgesim", Subsystem: "proxy",
			Name: "active_udp_flows", Help: "UDP flows in the flow tables."}),
	}
	refused := cv("refused_total", "Connections and datagrams not proxied, by reason.", "reason")
	for i, r := range refusedReasons {
		m.refused[i] = refused.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.conns, m.firewall, m.originFail, m.udpFlows, m.bytes, refused, m.acceptErrors, m.active, m.activeFlows} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

func (m *metrics) app(a *App) *appMetrics {
	if c := a.metrics.Load(); c != nil && c.m == m {
		return c
	}
	if v, ok := m.apps.Load(a.ID); ok {
		am := v.(*appMetrics)
		a.metrics.Store(am)
		return am
	}
	am := &appMetrics{
		m:          m,
		conns:      m.conns.WithLabelValues(a.ID),
		firewall:   m.firewall.WithLabelValues(a.ID),
		originFail: m.originFail.WithLabelValues(a.ID),
		udpFlows:   m.udpFlows.WithLabelValues(a.ID),
		toOrigin:   m.bytes.WithLabelValues(a.ID, "to_origin"),
		toClient:   m.bytes.WithLabelValues(a.ID, "to_client"),
	}
	v, _ := m.apps.LoadOrStore(a.ID, am)
	am = v.(*appMetrics)
	a.metrics.Store(am)
	return am
}
