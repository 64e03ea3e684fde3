package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists the whole HTTP surface.
//
// Every request passes, in order: the Host check (DNS rebinding, 421), the
// cross-origin check of state-changing requests (CSRF, 403), the JSON content
// type of request bodies (415) and the body size limit (413). Routes with
// parameters go through checkIDs, which answers an id outside its grammar
// before the handler runs.
func (h *handler) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(h.logRequests, h.recoverPanics, h.checkHost, h.refuseCrossOrigin, h.requireJSONBody, h.limitBody)

	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.methodNotAllowed)

	ids := r.With(h.checkIDs)
	r.Get("/", h.health)
	r.Get("/integrations", h.listIntegrations)
	ids.Post("/integrations/{integrationID}/run", h.runIntegration)
	ids.Post("/integrations/{integrationID}/{platform}/run", h.runPlatform)
	ids.Get("/api/tasks/{taskID}", h.getTask)

	chat := r.With(h.requireChat, h.checkIDs)
	chat.Get("/api/chat/conversations", h.listConversations)
	chat.Post("/api/chat/conversations", h.createConversation)
	chat.Get("/api/chat/conversations/{conversationID}/history", h.getHistory)
	chat.Post("/api/chat/conversations/{conversationID}/messages", h.sendMessage)
	chat.Post("/api/chat/conversations/{conversationID}/proposals/{proposalID}", h.respondToProposal)
	chat.Get("/api/chat/tasks/{chatTaskID}", h.pollChatTask)

	// The web UI: pages rendered from embedded templates, and their assets.
	r.Get("/ui/chat", h.chatPage)
	// The chat is the only page so far: /ui leads there.
	r.Get("/ui", redirectToChat)
	r.Get("/ui/", redirectToChat)
	ids.Get(staticPrefix+"{name}", h.serveStatic)

	if h.metrics != nil {
		r.Get("/metrics", h.serveMetrics())
	}
	return r
}
