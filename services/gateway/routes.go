package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists the whole HTTP surface.
func (h *handler) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(h.logRequests, h.recoverPanics, h.limitBody)

	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.methodNotAllowed)

	r.Get("/", h.health)
	r.Get("/integrations", h.listIntegrations)
	r.Post("/integrations/{integrationID}/run", h.runIntegration)
	r.Post("/integrations/{integrationID}/{platform}/run", h.runPlatform)
	r.Get("/api/tasks/{taskID}", h.getTask)
	if h.metrics != nil {
		r.Get("/metrics", h.serveMetrics())
	}
	return r
}
