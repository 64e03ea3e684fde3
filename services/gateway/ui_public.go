package gateway

import (
	"net/http"
	"strings"
)

// isPublicUIRequest reports whether r asks for a part of the web UI that holds
// no data: the chat page's shell and the embedded static assets, which are the
// same for everyone who has the binary. A browser cannot send a bearer token
// when it navigates to a page, so with gateway.token set these must load
// without it; the page then reads the token from the URL fragment
// (/ui/chat#token=...), keeps it in sessionStorage and sends it as
// "Authorization: Bearer <token>" on every /api/chat request, which the token
// check still guards.
func isPublicUIRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return p == "/ui/chat" || (strings.HasPrefix(p, staticPrefix) && !strings.Contains(p[len(staticPrefix):], "/"))
}
