package gateway

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics answers GET /metrics with the Prometheus exposition of the
// gatherer given in Options (task counters, queue depth, ...).
func (h *handler) serveMetrics() http.HandlerFunc {
	return promhttp.HandlerFor(h.metrics, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP
}
