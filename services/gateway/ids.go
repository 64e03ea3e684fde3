package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/stewardhq/steward/internal/msg"
)

// Every id that comes from outside (a route parameter, an id in a JSON body) is
// checked here against a bounded grammar before a handler sees it, so that a
// hostile value never reaches a NATS subject or KV key (a 4 KiB id once made the
// NATS server drop Steward's connection) nor an error reply at full length.

// maxShownID is how much of a refused id an error reply quotes.
const maxShownID = 40

// nameRE is the grammar of integration types and names, platform names, option
// ids and static asset names: one subject token (msg's token grammar).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// assetRE is the grammar of static asset file names (chat.js, steward.css).
var assetRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// validName reports whether s is one subject token of at most msg.MaxTokenLen.
func validName(s string) bool { return len(s) <= msg.MaxTokenLen && nameRE.MatchString(s) }

// validIntegrationID reports whether id can be an integration id: <type>.<name>,
// each a name.
func validIntegrationID(id string) bool {
	typ, name, ok := strings.Cut(id, ".")
	return ok && validName(typ) && validName(name)
}

// validProposalID reports whether id can be a proposal id (the service makes 16
// lower-case hex characters; older conversations hold 8).
func validProposalID(id string) bool { return validName(id) }

// validOptionID reports whether id can be a proposal option id ("approve",
// "reject": the manifests' option ids are names).
func validOptionID(id string) bool { return validName(id) }

// validAssetName reports whether name can be a static asset's file name.
func validAssetName(name string) bool {
	return len(name) <= msg.MaxTokenLen && assetRE.MatchString(name)
}

// clipID returns id for an error reply: unchanged when short, else its first
// maxShownID bytes (never splitting a character) and "…".
func clipID(id string) string {
	if len(id) <= maxShownID {
		return id
	}
	cut := id[:maxShownID]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut + "…"
}

// idRule is the grammar of one route parameter and the reply to a value
// outside it, which follows the API's answer to an unknown id of that kind.
type idRule struct {
	valid  func(string) bool
	reject func(h *handler, w http.ResponseWriter, r *http.Request, value string)
}

// paramRule returns the rule of a route parameter. Every parameter in
// routes.go has one (TestEveryRouteParamHasARule); an unknown one is refused.
func paramRule(name string) (idRule, bool) {
	switch name {
	case "integrationID":
		return idRule{validIntegrationID, func(h *handler, w http.ResponseWriter, _ *http.Request, v string) {
			h.writeError(w, http.StatusNotFound, fmt.Sprintf("Integration '%s' not found", clipID(v)))
		}}, true
	case "platform":
		return idRule{validName, func(h *handler, w http.ResponseWriter, r *http.Request, v string) {
			// The integration's own checks come first, as for a well-formed name.
			in, ok := h.resolveIntegration(w, pathParam(r, "integrationID"))
			if !ok {
				return
			}
			h.writeError(w, http.StatusNotFound,
				fmt.Sprintf("Platform '%s' not configured in '%s'", clipID(v), in.ID()))
		}}, true
	case "taskID":
		return idRule{msg.ValidTaskID, func(h *handler, w http.ResponseWriter, _ *http.Request, v string) {
			h.writeError(w, http.StatusNotFound, fmt.Sprintf("Task '%s' not found", clipID(v)))
		}}, true
	case "chatTaskID":
		return idRule{msg.ValidTaskID, func(h *handler, w http.ResponseWriter, _ *http.Request, _ string) {
			h.writeError(w, http.StatusNotFound, detailTaskNotFound)
		}}, true
	case "conversationID":
		return idRule{msg.ValidConversationID, func(h *handler, w http.ResponseWriter, _ *http.Request, _ string) {
			h.writeError(w, http.StatusNotFound, detailConversationNotFound)
		}}, true
	case "proposalID":
		return idRule{validProposalID, func(h *handler, w http.ResponseWriter, r *http.Request, v string) {
			// An unknown conversation is still answered first, as for a
			// well-formed proposal id (the service answers 400 for an unknown
			// proposal).
			if _, err := h.chat.History(r.Context(), pathParam(r, "conversationID")); err != nil {
				h.writeChatError(w, r, err, detailConversationNotFound)
				return
			}
			h.writeError(w, http.StatusBadRequest, fmt.Sprintf("Proposal %s not found", clipID(v)))
		}}, true
	case "name":
		return idRule{validAssetName, func(h *handler, w http.ResponseWriter, r *http.Request, _ string) {
			h.notFound(w, r)
		}}, true
	}
	return idRule{}, false
}

// checkIDs is route middleware (chi's With: it runs once the route is matched)
// that checks every route parameter against its rule, in path order, and
// answers the first one outside it.
func (h *handler) checkIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rctx := chi.RouteContext(r.Context())
		if rctx != nil {
			for _, name := range rctx.URLParams.Keys {
				rule, ok := paramRule(name)
				if !ok {
					// A route parameter without a rule is a bug: fail closed.
					h.log.Error("Route parameter has no id rule", "param", name, "path", rctx.RoutePattern())
					h.notFound(w, r)
					return
				}
				if v := pathParam(r, name); !rule.valid(v) {
					rule.reject(h, w, r, v)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
