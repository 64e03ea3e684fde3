package gateway

import "net/http"

// healthReply is the answer of GET /.
type healthReply struct {
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// health answers the health probe: 200 {"status": "ok"} while the task queue
// works, else 503 {"status": "unavailable", "detail": "..."} saying why (e.g.
// "not connected to NATS (reconnecting)"), so that a supervisor or a load
// balancer sees that Steward cannot work.
func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	if h.bus == nil {
		h.writeJSON(w, http.StatusServiceUnavailable, healthReply{Status: "unavailable", Detail: "no task queue"})
		return
	}
	if err := h.bus.Healthy(); err != nil {
		h.log.Debug("Health check failed", "err", err)
		h.writeJSON(w, http.StatusServiceUnavailable, healthReply{Status: "unavailable", Detail: err.Error()})
		return
	}
	h.writeJSON(w, http.StatusOK, healthReply{Status: "ok"})
}
