package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"roster/internal/destination"
	"roster/internal/pipeline"
	"roster/internal/store"
)

// Destinations is what the destination gauges read.
type Destinations interface {
	AllStatuses(ctx context.Context) (map[string][]destination.Status, error)
}

// State reads, at each scrape, what is kept in the store rather than
// counted: the log's head and size, the profile processor's position and
// lag, each destination's backlog, and the store's sizes.
type State struct {
	log          pipeline.PositionSource
	destinations Destinations
	sizes        store.Sizer // nil when the backend cannot tell
	logger       *slog.Logger
	now          func() time.Time
	timeout      time.Duration

	head, logBytes, cursor, behind, lag, destBehind, destRetrying, storeBytes *prometheus.Desc
}

// NewState returns the collector; register it on the same registry as
// New's metrics. st may implement store.Sizer.
func NewState(st pipeline.PositionSource, destinations Destinations, logger *slog.Logger) *State {
	s := &State{log: st, destinations: destinations, logger: logger, now: time.Now, timeout: 5 * time.Second,
		head:     prometheus.NewDesc("roster_log_head", "Position of the newest event in the log.", nil, nil),
		logBytes: prometheus.NewDesc("roster_log_bytes", "Bytes the log (events and dedup keys) takes in the store; the embedded store estimates it.", nil, nil),
		cursor:   prometheus.NewDesc("roster_profile_cursor", "Log position up to which profiles are applied.", nil, nil),
		behind:   prometheus.NewDesc("roster_profile_behind_events", "Events in the log not yet applied to profiles.", nil, nil),
		lag:      prometheus.NewDesc("roster_profile_lag_seconds", "Age of the oldest event not yet applied to profiles; 0 when profiles cover the log.", nil, nil),
		destBehind: prometheus.NewDesc("roster_destination_behind_events",
			"Log positions a destination's cursor is behind its workspace's newest event.", destinationLabels, nil),
		destRetrying: prometheus.NewDesc("roster_destination_retrying_events",
			"Events waiting for a scheduled retry.", destinationLabels, nil),
		storeBytes: prometheus.NewDesc("roster_store_bytes", "Bytes each part of the store takes (log, quarantine, profiles, outbox, other, total).", []string{"part"}, nil),
	}
	s.sizes, _ = st.(store.Sizer)
	return s
}

// Describe implements prometheus.Collector.
func (s *State) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.head, s.logBytes, s.cursor, s.behind, s.lag, s.destBehind, s.destRetrying, s.storeBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A part the store cannot read
// now is left out of the scrape and logged, and the rest is still served.
func (s *State) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if p, err := pipeline.ProfilePosition(ctx, s.log, s.now()); err != nil {
		s.logger.Warn("metrics: profile position", "err", err)
	} else {
		gauge(s.head, float64(p.Head))
		gauge(s.cursor, float64(p.Cursor))
		gauge(s.behind, float64(p.Behind))
		gauge(s.lag, p.Lag.Seconds())
	}
	if s.destinations != nil {
		if all, err := s.destinations.AllStatuses(ctx); err != nil {
			s.logger.Warn("metrics: destination statuses", "err", err)
		} else {
			for ws, statuses := range all {
				for _, st := range statuses {
					gauge(s.destBehind, float64(st.Behind), ws, st.Name, st.Type)
					gauge(s.destRetrying, float64(st.Retrying), ws, st.Name, st.Type)
				}
			}
		}
	}
	if s.sizes != nil {
		if sizes, err := s.sizes.Sizes(ctx); err != nil {
			s.logger.Warn("metrics: store sizes", "err", err)
		} else {
			gauge(s.logBytes, float64(sizes["log"]))
			for part, n := range sizes {
				gauge(s.storeBytes, float64(n), part)
			}
		}
	}
}
