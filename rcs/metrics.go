package rcs

import (
	"net"
	"net/http"
	"regexp"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/amtrcs/amtrcs/provisioning"
	"github.com/amtrcs/amtrcs/rcs/health"
	"github.com/amtrcs/amtrcs/store"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (several servers in one process, as in tests, do not share counters).
// Labels carry paths, steps, tasks and outcomes, never a device, a name
// or a secret: their values are few and known in advance, except the
// provisioning certificate's id, a hash of its public part.
type metrics struct {
	reg         *prometheus.Registry
	activations *prometheus.CounterVec
	maintenance *prometheus.CounterVec
	steps       *prometheus.HistogramVec
	commits     prometheus.Histogram
	collectors  []prometheus.Collector
}

// Step and commit durations: from a millisecond (a commit without fsync,
// a local call) to two minutes (a TLS setup over a slow relay).
var (
	stepBuckets   = prometheus.ExponentialBuckets(0.001, 4, 10)
	commitBuckets = prometheus.ExponentialBuckets(0.0001, 4, 10)
)

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.activations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amtrcs_provisioning_jobs_total",
		Help: "Provisioning jobs ended (activate, resume, deactivate, hello), by kind, path and outcome.",
	}, []string{"kind", "path", "outcome"})
	m.maintenance = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "amtrcs_maintenance_jobs_total",
		Help: "Maintenance jobs ended, by task and outcome (denied: another session held the device).",
	}, []string{"task", "outcome"})
	m.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "amtrcs_step_duration_seconds",
		Help:    "Duration of a provisioning step's calls to the device, by path, step and outcome.",
		Buckets: stepBuckets,
	}, []string{"path", "step", "outcome"})
	m.commits = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "amtrcs_store_commit_duration_seconds",
		Help:    "Duration of the store's write commits, fsync included (one group commit may carry many writers).",
		Buckets: commitBuckets,
	})
	agents := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amtrcs_agents_connected",
		Help: "Agents connected to this server.",
	}, func() float64 {
		s.gw.mu.Lock()
		defer s.gw.mu.Unlock()
		return float64(len(s.gw.conns))
	})
	m.collectors = []prometheus.Collector{m.activations, m.maintenance, m.steps, m.commits, agents, &scrapeCollector{s: s}}
	m.reg.MustRegister(m.collectors...)
	return m
}

// ObserveStep is the engine's provisioning.StepObserver.
func (m *metrics) ObserveStep(p provisioning.Path, step, outcome string, took time.Duration) {
	m.steps.WithLabelValues(string(p), step, outcome).Observe(took.Seconds())
}

var _ provisioning.StepObserver = (*metrics)(nil)

// jobDone counts a provisioning job's end.
func (m *metrics) jobDone(kind, path string, err error) {
	outcome := store.OutcomeSuccess
	if err != nil {
		outcome = store.OutcomeFailure
	}
	if path == "" {
		path = "none" // refused before a path was chosen
	}
	m.activations.WithLabelValues(kind, path, outcome).Inc()
}

// handler serves the registry in Prometheus's text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// scrapeCollector computes at scrape time what is a state rather than an
// event: hello listener load, and from the store, read-only, devices by
// health status and provisioning certificates' days left (the health
// report's judgement, without probing the devices).
type scrapeCollector struct{ s *Server }

var (
	helloQueueDesc = prometheus.NewDesc("amtrcs_hello_queue_depth",
		"Hellos read and waiting for a worker.", nil, nil)
	helloHeldDesc = prometheus.NewDesc("amtrcs_hello_connections_held",
		"Hello connections being read.", nil, nil)
	devicesDesc = prometheus.NewDesc("amtrcs_devices",
		"Devices by health status (ok or failing), as the health report judges them from the store.", []string{"health"}, nil)
	certDaysDesc = prometheus.NewDesc("amtrcs_provisioning_certificate_days_left",
		"Days until a provisioning certificate expires (negative: expired), by certificate id.", []string{"cert_id"}, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- helloQueueDesc
	ch <- helloHeldDesc
	ch <- devicesDesc
	ch <- certDaysDesc
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	var queued, held int
	if h := s.helloListener(); h != nil {
		queued = len(h.queue)
		held, _ = h.Held()
	}
	ch <- prometheus.MustNewConstMetric(helloQueueDesc, prometheus.GaugeValue, float64(queued))
	ch <- prometheus.MustNewConstMetric(helloHeldDesc, prometheus.GaugeValue, float64(held))
	in, err := health.Load(s.st)
	if err != nil {
		// A damaged record is the health report's to explain; the
		// metrics say only what they could read.
		s.log.Debug("metrics: health input", "err", err)
	}
	rep := health.Build(in, s.now(), health.PolicyFrom(s.cfg.Maintenance))
	counts := map[string]int{health.StatusOK: 0, health.StatusFailing: 0}
	for _, d := range rep.Devices {
		counts[d.Status]++
	}
	for _, st := range []string{health.StatusOK, health.StatusFailing} {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
	for _, x := range rep.ProvisioningCerts {
		ch <- prometheus.MustNewConstMetric(certDaysDesc, prometheus.GaugeValue, float64(x.DaysLeft), x.ID)
	}
}

// helloListener is the hello listener once Start opened it, else nil.
func (s *Server) helloListener() *HelloListener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hello
}

// serveMetrics serves /metrics alone on ln, in plain HTTP without
// authentication (server.metrics): for a scraper on loopback or a
// management network.
func (s *Server) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	s.serve(ln, mux, nil)
}

// serveMetricsAPI is /metrics on the API listener, for admins.
func (s *Server) serveMetricsAPI(w http.ResponseWriter, r *http.Request, _ *principal) {
	s.metrics.handler().ServeHTTP(w, r)
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// names are the metric names the registry exports, sorted.
func (m *metrics) names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		if sm := descName.FindStringSubmatch(d.String()); sm != nil {
			out = append(out, sm[1])
		}
	}
	sort.Strings(out)
	return out
}
