package gateway

import (
	"net"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/config"
)

// detailMisdirected is the reply to a request for a host the gateway does not serve.
const detailMisdirected = "Misdirected Request: this gateway answers to loopback addresses, localhost " +
	"and the names listed in gateway.hosts"

// checkHost refuses (421 Misdirected Request) every request whose Host header
// is not a loopback address, localhost or listed in gateway.hosts. A page
// served from an attacker's domain that later resolves to 127.0.0.1 (DNS
// rebinding) reaches the gateway as its own origin, so its requests carry the
// attacker's host name: refusing unknown names keeps such pages from reading
// conversations or approving proposals. The list is read from the current
// config on every request, so a reload applies at once.
func (h *handler) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, h.currentConfig().Gateway.Hosts) {
			h.log.Info("Request for an unknown host refused (add it to gateway.hosts if it is yours)",
				"method", r.Method, "path", r.URL.Path, "host", clipID(r.Host), "remote", r.RemoteAddr)
			h.writeError(w, http.StatusMisdirectedRequest, detailMisdirected)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether hostport (a Host header: host, host:port,
// [v6]:port) is loopback (127.0.0.0/8, ::1, localhost; any port) or matches an
// entry of allowed (see config.SplitHostEntry; an entry without a port matches
// any port).
func hostAllowed(hostport string, allowed []string) bool {
	host, port, ok := splitHostHeader(hostport)
	if !ok {
		return false
	}
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, entry := range allowed {
		h, p, err := config.SplitHostEntry(entry)
		if err != nil {
			continue // refused at load; never widen the list
		}
		if h == host && (p == "" || p == port) {
			return true
		}
	}
	return false
}

// splitHostHeader splits a Host header into its lower-case host (no brackets,
// no trailing dot) and port ("" when none). ok is false for an empty or
// malformed header.
func splitHostHeader(hostport string) (host, port string, ok bool) {
	if hostport == "" || len(hostport) > 300 {
		return "", "", false
	}
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	} else if strings.Contains(hostport, ":") {
		return "", "", false // a bare IPv6 address is not a valid Host header
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host, port, host != ""
}
