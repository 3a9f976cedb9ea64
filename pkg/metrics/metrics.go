// Package metrics exposes Latch's figures in the Prometheus text format for
// `latch server`'s GET /metrics: API calls by route and status, requests by
// flow and outcome, grants active, escalation and revoke latency, how late
// revokes are after the access's end, and revokes overdue.
//
// Grant and revoke figures are derived from what is committed, never from
// the code that grants and revokes: the request and grant figures from the
// audit feed (read on from where the last scrape stopped, the whole history
// at the first), the gauges from the store at scrape time.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OverdueAfter is how long past its due time a revoke counts as overdue:
// the local timers fire on time, and the reconciler, once a minute, catches
// what they missed.
const OverdueAfter = 2 * time.Minute

// feedPage is how many audit events one read of the feed takes.
const feedPage = 1000

// Grants lists grants by status; latch.Store is one.
type Grants interface {
	ListGrants(ctx context.Context, statuses ...latch.GrantStatus) ([]latch.Grant, error)
}

// Metrics collects the figures. It is safe for concurrent use.
type Metrics struct {
	reg    *prometheus.Registry
	feed   latch.AuditFeed
	grants Grants
	clock  latch.Clock

	apiCalls    *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	escalation  *prometheus.HistogramVec
	revoke      *prometheus.HistogramVec
	lateness    *prometheus.HistogramVec

	mu   sync.Mutex // serializes reading the feed
	pos  uint64
	open map[string]*requestTimes
}

// requestTimes are what the feed said of a request whose access has not
// ended yet.
type requestTimes struct {
	approved, revoked, endsAt time.Time
}

// latencyBuckets span a fast webhook to a revoke retried for an hour.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// New returns the metrics of the store behind feed and grants.
func New(feed latch.AuditFeed, grants Grants, clock latch.Clock) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), feed: feed, grants: grants, clock: clock, open: map[string]*requestTimes{},
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latch_api_requests_total",
			Help: "API calls answered, by route pattern and status."}, []string{"route", "status"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latch_api_request_duration_seconds",
			Help: "Time to answer an API call, by route pattern.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "latch_requests_total",
			Help: "Request lifecycle events committed, by flow and outcome (the audit event type: requested, approved, denied, expired, cancelled, escalated, revoked, released, deescalated, lease_ended, failed, deescalation_failed, retried)."},
			[]string{"flow", "outcome"}),
		escalation: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latch_escalation_latency_seconds",
			Help: "From a request's approval (or retry) to its access being in place, by flow.", Buckets: latencyBuckets}, []string{"flow"}),
		revoke: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latch_revoke_latency_seconds",
			Help: "From when access was due to go (its end, or an early revoke) to its being taken away, by flow.", Buckets: latencyBuckets}, []string{"flow"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "latch_revoke_lateness_seconds",
			Help: "How long access outlived its scheduled end (0 when taken away on time or early), by flow.", Buckets: latencyBuckets}, []string{"flow"}),
	}
	m.reg.MustRegister(m.apiCalls, m.apiDuration, m.requests, m.escalation, m.revoke, m.lateness, gauges{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveAPI counts an answered API call (httpapi.Server.Observe).
func (m *Metrics) ObserveAPI(route string, status int, d time.Duration) {
	m.apiCalls.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.apiDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Handler serves the metrics, reading the audit feed up to date first.
func (m *Metrics) Handler() http.Handler {
	prom := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.CatchUp(r.Context()); err != nil {
			http.Error(w, "read the audit feed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		prom.ServeHTTP(w, r)
	})
}

// Gather returns the metrics as Prometheus gathers them, after CatchUp.
func (m *Metrics) Gather(ctx context.Context) error {
	if err := m.CatchUp(ctx); err != nil {
		return err
	}
	_, err := m.reg.Gather()
	return err
}

// CatchUp reads the audit feed from where it last stopped to its end.
func (m *Metrics) CatchUp(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		evs, err := m.feed.AuditAfter(ctx, m.pos, feedPage)
		if err != nil {
			return err
		}
		for _, fe := range evs {
			m.apply(fe.Event)
			m.pos = fe.Pos
		}
		if len(evs) < feedPage {
			return nil
		}
	}
}

// apply derives the figures from one committed audit event.
func (m *Metrics) apply(e latch.AuditEvent) {
	if e.RequestID == "" {
		return // an admin's change
	}
	m.requests.WithLabelValues(e.Flow, string(e.Type)).Inc()
	t := m.open[e.RequestID]
	if t == nil {
		t = &requestTimes{}
		m.open[e.RequestID] = t
	}
	switch e.Type {
	case latch.AuditApproved, latch.AuditRetried:
		t.approved = e.At
	case latch.AuditScheduled:
		// Escalation is asked for at the scheduled start, not at approval.
		t.approved = timeOf(e.Data["starts_at"])
	case latch.AuditEscalated:
		if !t.approved.IsZero() {
			m.escalation.WithLabelValues(e.Flow).Observe(nonNegative(e.At.Sub(t.approved)))
		}
		t.endsAt = timeOf(e.Data["ends_at"])
	case latch.AuditRevoked, latch.AuditReleased:
		t.revoked = e.At
	case latch.AuditExtended:
		t.endsAt = timeOf(e.Data["new_ends_at"]) // the revoke is due at the new end
	case latch.AuditDeescalated:
		due := t.endsAt
		if !t.revoked.IsZero() && (due.IsZero() || t.revoked.Before(due)) {
			due = t.revoked
		}
		if !due.IsZero() {
			m.revoke.WithLabelValues(e.Flow).Observe(nonNegative(e.At.Sub(due)))
		}
		if !t.endsAt.IsZero() {
			m.lateness.WithLabelValues(e.Flow).Observe(nonNegative(e.At.Sub(t.endsAt)))
		}
		delete(m.open, e.RequestID)
	case latch.AuditDenied, latch.AuditCancelled, latch.AuditExpired, latch.AuditLeaseEnded:
		delete(m.open, e.RequestID)
	}
}

func nonNegative(d time.Duration) float64 { return max(d, 0).Seconds() }

// timeOf reads a time kept in an audit event's data: a time.Time as
// committed, or its RFC 3339 text as read back from the store.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		t, _ := time.Parse(time.RFC3339Nano, x)
		return t
	}
	return time.Time{}
}

// gauges reads the store at scrape time: grants active by flow, and revokes
// overdue.
type gauges struct{ m *Metrics }

var (
	grantsActiveDesc = prometheus.NewDesc("latch_grants_active",
		"Grants whose access is in place now, by flow.", []string{"flow"}, nil)
	overdueDesc = prometheus.NewDesc("latch_revokes_overdue",
		"Grants whose access should have been taken away more than 2 minutes ago: active past a lease's end, or deescalating for that long.", nil, nil)
	scrapeErrorDesc = prometheus.NewDesc("latch_metrics_store_errors",
		"1 when the store could not be read for the gauges at this scrape.", nil, nil)
)

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- grantsActiveDesc
	ch <- overdueDesc
	ch <- scrapeErrorDesc
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := g.m.grants.ListGrants(ctx, latch.GrantActive, latch.GrantDeescalating)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0)
	now := g.m.clock.Now()
	active := map[string]float64{}
	overdue := 0.0
	for _, gr := range gs {
		switch gr.Status {
		case latch.GrantActive:
			active[gr.Flow]++
			if due, ok := gr.NextDue(); ok && now.Sub(due) > OverdueAfter {
				overdue++
			}
		case latch.GrantDeescalating:
			if now.Sub(gr.UpdatedAt) > OverdueAfter {
				overdue++
			}
		}
	}
	for flow, n := range active {
		ch <- prometheus.MustNewConstMetric(grantsActiveDesc, prometheus.GaugeValue, n, flow)
	}
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, overdue)
}
