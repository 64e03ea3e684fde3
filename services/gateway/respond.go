package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"
)

// errorBody is the reference API's error shape.
type errorBody struct {
	Detail string `json:"detail"`
}

// writeJSON sends v as JSON with the status.
func (h *handler) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.log.Debug("writing response failed", "err", err)
	}
}

// writeError sends {"detail": detail} with the status.
func (h *handler) writeError(w http.ResponseWriter, status int, detail string) {
	h.writeJSON(w, status, errorBody{Detail: detail})
}

// notFound answers routes that do not exist.
func (h *handler) notFound(w http.ResponseWriter, _ *http.Request) {
	h.writeError(w, http.StatusNotFound, "Not Found")
}

// methodNotAllowed answers a known route asked with the wrong method.
func (h *handler) methodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	h.writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
}

// pathParam returns the decoded value of a route parameter. chi matches on the
// raw (escaped) path when there is one, so a parameter may still be escaped.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
