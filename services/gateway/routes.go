package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists the whole HTTP surface.
func (h *handler) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(h.logRequests, h.recoverPanics, h.limitBody)

	r.NotFound(h.notFound)
	r.MethodNotAllowed(h.methodNotAllowed)

	r.Get("/", h.health)
	r.Get("/integrations", h.listIntegrations)
	r.Post("/integrations/{integrationID}/run", h.runIntegration)
	r.Post("/integrations/{integrationID}/{platform}/run", h.runPlatform)
	r.Get("/api/tasks/{taskID}", h.getTask)

	chat := r.With(h.requireChat)
	chat.Get("/api/chat/conversations", h.listConversations)
	chat.Post("/api/chat/conversations", h.createConversation)
	chat.Get("/api/chat/conversations/{conversationID}/history", h.getHistory)
	chat.Post("/api/chat/conversations/{conversationID}/messages", h.sendMessage)
	chat.Post("/api/chat/conversations/{conversationID}/proposals/{proposalID}", h.respondToProposal)
	chat.Get("/api/chat/tasks/{taskID}", h.pollChatTask)

	// The web UI: pages rendered from embedded templates, and their assets.
	r.Get("/ui/chat", h.chatPage)
	// The chat is the only page so far: /ui leads there.
	r.Get("/ui", redirectToChat)
	r.Get("/ui/", redirectToChat)
	r.Get(staticPrefix+"{name}", h.serveStatic)

	if h.metrics != nil {
		r.Get("/metrics", h.serveMetrics())
	}
	return r
}
