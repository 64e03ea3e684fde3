package msg

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the task layer's Prometheus collectors. Create them with NewMetrics
// and hand them to Connect; a nil *Metrics records nothing.
type Metrics struct {
	published *prometheus.CounterVec
	skipped   *prometheus.CounterVec
	done      *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	deferred  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	waiting   *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_published_total", Help: "Tasks published, by task type.",
		}, []string{"type"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_skipped_total", Help: "Publishes refused by queue policies, by task type and reason.",
		}, []string{"type", "reason"}),
		done: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_done_total", Help: "Tasks completed, by task type.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_failed_total", Help: "Tasks failed for good, by task type.",
		}, []string{"type"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_retried_total", Help: "Transient failures scheduled for another attempt, by task type.",
		}, []string{"type"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_tasks_deferred_total", Help: "Tasks deferred by their handler with RetryAfter (rate limits; not failures), by task type.",
		}, []string{"type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "steward_task_duration_seconds",
			Help:    "Handler run time, by task type.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5, 15, 60, 300},
		}, []string{"type"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "steward_tasks_in_flight", Help: "Handlers running in this process, by lane.",
		}, []string{"lane"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "steward_lane_lease_waiters",
			Help: "Tasks of this process prepared and waiting for a lease of a bounded (LLM) lane, by lane.",
		}, []string{"lane"}),
	}
	reg.MustRegister(m.published, m.skipped, m.done, m.failed, m.retried, m.deferred, m.duration, m.inFlight, m.waiting)
	return m
}

func (m *Metrics) onPublished(typ string) {
	if m != nil {
		m.published.WithLabelValues(typ).Inc()
	}
}

func (m *Metrics) onSkipped(typ, reason string) {
	if m != nil {
		m.skipped.WithLabelValues(typ, reason).Inc()
	}
}

func (m *Metrics) onMalformed() {
	if m != nil {
		m.failed.WithLabelValues("malformed").Inc()
	}
}

func (m *Metrics) onStart(lane string) {
	if m != nil {
		m.inFlight.WithLabelValues(lane).Inc()
	}
}

func (m *Metrics) onLeaseWait(lane string, delta float64) {
	if m != nil {
		m.waiting.WithLabelValues(lane).Add(delta)
	}
}

func (m *Metrics) onEnd(lane, typ, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.inFlight.WithLabelValues(lane).Dec()
	m.duration.WithLabelValues(typ).Observe(d.Seconds())
	switch outcome {
	case StateDone:
		m.done.WithLabelValues(typ).Inc()
	case StateFailed:
		m.failed.WithLabelValues(typ).Inc()
	case outcomeDeferred:
		m.deferred.WithLabelValues(typ).Inc()
	default:
		m.retried.WithLabelValues(typ).Inc()
	}
}

// depthCollector reports steward_queue_depth{lane,priority} from consumer info at
// scrape time.
type depthCollector struct {
	bus  *Bus
	desc *prometheus.Desc
	ack  *prometheus.Desc
}

// DepthCollector returns a collector of the queue depth per lane and priority
// (messages waiting, and messages delivered but not yet acknowledged).
func (b *Bus) DepthCollector() prometheus.Collector {
	return &depthCollector{
		bus: b,
		desc: prometheus.NewDesc("steward_queue_depth", "Tasks waiting, by lane and priority.",
			[]string{"lane", "priority"}, nil),
		ack: prometheus.NewDesc("steward_queue_unacked", "Tasks delivered and not yet acknowledged (running or waiting to retry), by lane and priority.",
			[]string{"lane", "priority"}, nil),
	}
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.ack
}

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depths, err := c.bus.Depth(ctx)
	if err != nil {
		return
	}
	for _, d := range depths {
		p := strconv.Itoa(d.Priority)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(d.Pending), d.Lane, p)
		ch <- prometheus.MustNewConstMetric(c.ack, prometheus.GaugeValue, float64(d.AckPending), d.Lane, p)
	}
}
