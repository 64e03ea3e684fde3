package gateway

import "net/http"

// health answers the liveness probe: 200 {"status": "ok"}.
func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	h.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
