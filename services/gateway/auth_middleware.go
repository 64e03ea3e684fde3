package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/config"
)

// RequireToken returns middleware that lets a request through only when it
// carries "Authorization: Bearer <token>"; anything else gets 401 JSON and an
// info log line (method, path, remote address; nil log = none). The comparison
// takes the same time whatever the guess, and the token is never logged or
// echoed. A zero token lets every request through.
func RequireToken(token config.Secret, log *slog.Logger) func(http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if token.IsZero() {
		return func(next http.Handler) http.Handler { return next }
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	want := sha256.Sum256([]byte(token.Reveal()))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The chat page shell and its static assets hold no data (the page
			// loads everything through /api with the bearer token), and a browser
			// cannot send a header when it opens a page: they stay public.
			if isPublicUIRequest(r) {
				next.ServeHTTP(w, r)
				return
			}
			got, ok := bearerToken(r.Header.Get("Authorization"))
			gotSum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
				log.Info("Unauthenticated request refused",
					"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				writeUnauthorized(w)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bearerToken extracts the credentials of a "Bearer" Authorization header.
func bearerToken(header string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}

// writeUnauthorized sends the 401 reply.
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", "Bearer")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(errorBody{Detail: "Not authenticated"})
}
