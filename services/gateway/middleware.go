package gateway

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// recoverPanics turns a panicking handler into a 500 JSON reply and logs the
// panic with its stack.
func (h *handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // the server's own signal to abort the response
			}
			h.log.Error("HTTP handler panicked",
				"method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			h.writeError(w, http.StatusInternalServerError, "Internal Server Error")
		}()
		next.ServeHTTP(w, r)
	})
}

// logRequests logs every request at debug level: method, path, status, size and
// duration. It never logs headers or the query string, which may hold secrets.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			h.log.Debug("HTTP request",
				"method", r.Method, "path", r.URL.Path, "status", status,
				"bytes", ww.BytesWritten(), "duration", time.Since(start))
		}()
		next.ServeHTTP(ww, r)
	})
}

// limitBody refuses bodies larger than the limit: at once with 413 when the
// declared length is too large; a body of unknown length fails the handler's
// read with *http.MaxBytesError once it passes the limit.
func (h *handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > h.maxBody {
			h.writeError(w, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
		}
		next.ServeHTTP(w, r)
	})
}
