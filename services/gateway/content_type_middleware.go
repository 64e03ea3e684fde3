package gateway

import (
	"mime"
	"net/http"
)

// detailJSONOnly is the reply to a request body that is not declared as JSON.
const detailJSONOnly = "Unsupported Media Type: send the request body as JSON with " +
	"\"Content-Type: application/json\""

// requireJSONBody refuses (415) a state-changing request that has a body not
// declared as application/json (parameters such as charset are fine). A
// browser page on another site can send text/plain, form and multipart bodies
// without asking first (no CORS preflight), and the endpoints would read them
// as JSON; a JSON content type always needs a preflight, which the gateway
// never grants. A request without a body (curl -X POST .../run) needs no
// content type.
func (h *handler) requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) && !isJSONContentType(r.Header.Get("Content-Type")) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				h.writeError(w, http.StatusUnsupportedMediaType, detailJSONOnly)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// hasBody reports whether the request carries a body: a Content-Length above
// zero, or a body of unknown length (chunked).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

// isJSONContentType reports whether ct names application/json.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
