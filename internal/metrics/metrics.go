// Package metrics is Roster's Prometheus metrics: what ingestion, delivery
// and HTTP requests count as they go (through the small Observer
// interfaces of those packages), and what the store says at each scrape
// (the log, the profile processor's lag, destination backlogs, sizes).
// Everything is registered on a registry passed in, never a global one.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"roster/internal/destination"
)

// Metrics records what Roster does. It implements ingest.Observer and
// destination.Observer.
type Metrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	requestSize     *prometheus.HistogramVec
	messages        *prometheus.CounterVec
	delivered       *prometheus.CounterVec
	retried         *prometheus.CounterVec
	dead            *prometheus.CounterVec
	sendDuration    *prometheus.HistogramVec
}

var destinationLabels = []string{"workspace", "destination", "type"}

// New registers Roster's counters and histograms on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		requestSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_http_request_size_bytes",
			Help:    "Bytes of request body read, as sent (before gzip decompression), by route pattern.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8), // 256 B to 4 MB
		}, []string{"route"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_ingest_events_total",
			Help: "Messages received from an authenticated source, by workspace, source, call type and outcome (accepted, deduplicated, rejected, quarantined).",
		}, []string{"workspace", "source", "type", "outcome"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_destination_delivered_total",
			Help: "Events a destination's provider accepted.",
		}, destinationLabels),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_destination_retried_total",
			Help: "Events scheduled for a retry after a failed send.",
		}, destinationLabels),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_destination_dead_total",
			Help: "Events given up on and kept as dead letters.",
		}, destinationLabels),
		sendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_destination_request_duration_seconds",
			Help:    "Time of each request to a destination's provider, until its answer's headers.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, destinationLabels),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.requestSize, m.messages,
		m.delivered, m.retried, m.dead, m.sendDuration)
	return m
}

// Request records one answered HTTP request.
func (m *Metrics) Request(route string, status int, took time.Duration, bodyBytes int64) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route).Observe(took.Seconds())
	m.requestSize.WithLabelValues(route).Observe(float64(bodyBytes))
}

// Messages implements ingest.Observer.
func (m *Metrics) Messages(workspace, source, callType, outcome string, n int) {
	m.messages.WithLabelValues(workspace, source, callType, outcome).Add(float64(n))
}

// Settled implements destination.Observer. It adds zeros too, so that
// every destination's series exist from its first round and rate() and
// alerts work before anything fails.
func (m *Metrics) Settled(t destination.Target, delivered, retried, dead int) {
	m.delivered.WithLabelValues(t.Workspace, t.Name, t.Type).Add(float64(delivered))
	m.retried.WithLabelValues(t.Workspace, t.Name, t.Type).Add(float64(retried))
	m.dead.WithLabelValues(t.Workspace, t.Name, t.Type).Add(float64(dead))
}

// Sent implements destination.Observer.
func (m *Metrics) Sent(t destination.Target, _ int, took time.Duration) {
	m.sendDuration.WithLabelValues(t.Workspace, t.Name, t.Type).Observe(took.Seconds())
}

// StatusRecorder is an http.ResponseWriter that remembers the status code
// and the start of an error answer, for the request metrics and the log.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	// ErrorBody is the start of the answer when Status >= 400.
	ErrorBody []byte
}

// maxErrorBody is how much of an error answer StatusRecorder keeps: enough
// for its code.
const maxErrorBody = 512

// WriteHeader implements http.ResponseWriter.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	if s.Status >= 400 && len(s.ErrorBody) < maxErrorBody {
		s.ErrorBody = append(s.ErrorBody, b[:min(len(b), maxErrorBody-len(s.ErrorBody))]...)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
