package node

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgesim/edgesim/api"
	"github.com/edgesim/edgesim/bgp"
	"github.com/edgesim/edgesim/config"
)

// metrics is the node's Prometheus registry: the data-plane servers
// register their own counters on it (DNS per rcode and zone, proxy per
// app); the node adds the API's requests, the published snapshot and the
// BGP sessions. Served at GET /metrics on the API listener.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgesim_api_requests_total",
			Help: "API requests by method, route pattern and HTTP status.",
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests)
	return m
}

// watch adds the published snapshot and, when sp is set, the BGP sessions.
func (m *metrics) watch(h *config.Holder, compileFailures *atomic.Int64, sp *bgp.Speaker) {
	reg := m.reg
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgesim_snapshot_compile_failures_total",
		Help: "Reconciler passes that kept the last good snapshot because the state failed to load or compile.",
	}, func() float64 { return float64(compileFailures.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgesim_snapshot_generation",
		Help: "Generation of the published control-plane snapshot.",
	}, func() float64 { return float64(h.Load().Generation) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgesim_snapshot_build_seconds",
		Help: "How long compiling the published snapshot took.",
	}, func() float64 { return h.Load().BuildTime.Seconds() }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgesim_snapshot_announcements",
		Help: "BGP prefixes the published snapshot announces (customer prefixes; the anycast pool is not counted).",
	}, func() float64 { return float64(len(h.Load().Announcements())) }))
	if sp != nil {
		reg.MustRegister(bgpCollector{sp})
	}
}

// watchAPI adds how the API follows the store (api.StoreStats), its rate
// limit and the injected faults (api.LimitStats).
func (m *metrics) watchAPI(srv *api.Server) {
	for _, c := range []struct {
		name, help string
		get        func(api.StoreStats) int64
	}{
		{"edgesim_api_state_reloads_total", "Times the API reloaded its view of the state after writes by others (other nodes on a shared state).",
			func(s api.StoreStats) int64 { return s.Reloads }},
		{"edgesim_api_state_reload_failures_total", "API reloads that failed and kept the old view.",
			func(s api.StoreStats) int64 { return s.ReloadFailures }},
		{"edgesim_api_write_conflicts_total", "API writes refused because the store had moved; each reloaded and re-ran its request.",
			func(s api.StoreStats) int64 { return s.Conflicts }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.get(srv.StoreStats())) }))
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgesim_api_rate_limited_total",
		Help: "API requests answered 429 by the per-credential rate limit (api.rate_limit).",
	}, func() float64 { return float64(srv.LimitStats().RateLimited) }))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgesim_api_faults_injected_total",
		Help: "API requests answered by a fault injected through /admin/v1/faults.",
	}, func() float64 { return float64(srv.LimitStats().Faults) }))
}

// handler serves the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument counts every request by method, the route pattern that served
// it (the API's routes, or "other") and status.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "other"
		}
		m.requests.WithLabelValues(r.Method, route, strconv.Itoa(sw.status)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// bgpCollector reports each peer's session state and prefix counts at
// scrape time.
type bgpCollector struct{ sp *bgp.Speaker }

var (
	bgpUpDesc = prometheus.NewDesc("edgesim_bgp_session_established",
		"1 when the BGP session with the peer is Established, else 0.", []string{"peer", "state"}, nil)
	bgpSentDesc = prometheus.NewDesc("edgesim_bgp_prefixes_sent",
		"Prefixes announced to the peer.", []string{"peer"}, nil)
	bgpRcvdDesc = prometheus.NewDesc("edgesim_bgp_prefixes_received",
		"Prefixes received from the peer.", []string{"peer"}, nil)
	bgpUptimeDesc = prometheus.NewDesc("edgesim_bgp_session_uptime_seconds",
		"How long the session has been Established.", []string{"peer"}, nil)
)

func (c bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bgpUpDesc
	ch <- bgpSentDesc
	ch <- bgpRcvdDesc
	ch <- bgpUptimeDesc
}

func (c bgpCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.sp.Status() {
		peer := p.Address.String()
		up := 0.0
		if p.State == bgp.StateEstablished {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(bgpUpDesc, prometheus.GaugeValue, up, peer, string(p.State))
		ch <- prometheus.MustNewConstMetric(bgpSentDesc, prometheus.GaugeValue, float64(p.PrefixesSent), peer)
		ch <- prometheus.MustNewConstMetric(bgpRcvdDesc, prometheus.GaugeValue, float64(p.PrefixesReceived), peer)
		ch <- prometheus.MustNewConstMetric(bgpUptimeDesc, prometheus.GaugeValue, p.Uptime.Round(time.Millisecond).Seconds(), peer)
	}
}
