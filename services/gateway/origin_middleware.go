package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// detailCrossOrigin is the reply to a refused cross-origin request.
const detailCrossOrigin = "Cross-origin request refused: state-changing requests must come from " +
	"this gateway's own pages or from a client that sends no Origin (curl, scripts, steward chat)"

// refuseCrossOrigin refuses (403) state-changing requests (anything but GET,
// HEAD and OPTIONS) that a browser sent from another site: Sec-Fetch-Site other
// than same-origin or none (net/http.CrossOriginProtection), or an Origin
// header whose host is not the request's Host. Requests with neither header
// (curl, scripts, steward chat) are not from a browser and pass. The Origin's
// scheme is not compared: a TLS-terminating proxy in front of the gateway
// makes https pages post to plain http, and the Host check (checkHost) already
// limits which hosts can be named.
func (h *handler) refuseCrossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil || !originMatchesHost(r) {
			h.log.Info("Cross-origin request refused",
				"method", r.Method, "path", r.URL.Path, "origin", clipID(r.Header.Get("Origin")),
				"sec_fetch_site", clipID(r.Header.Get("Sec-Fetch-Site")), "remote", r.RemoteAddr)
			h.writeError(w, http.StatusForbidden, detailCrossOrigin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originMatchesHost reports whether a state-changing request's Origin header,
// when present, is an http(s) origin for the request's own Host. "null" (a
// sandboxed frame, a file: page) and any other origin do not match.
func originMatchesHost(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	reqScheme := "http"
	if r.TLS != nil {
		reqScheme = "https"
	}
	return strings.EqualFold(withoutDefaultPort(u.Host, u.Scheme), withoutDefaultPort(r.Host, reqScheme))
}

// withoutDefaultPort drops ":80" from an http host and ":443" from an https one,
// as browsers do in an Origin.
func withoutDefaultPort(host, scheme string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}
