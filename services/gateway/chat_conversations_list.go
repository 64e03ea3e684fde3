package gateway

import (
	"net/http"

	"github.com/stewardhq/steward/services/chat"
)

// conversationsResponse is the reply of GET /api/chat/conversations.
type conversationsResponse struct {
	Conversations []chat.Conversation `json:"conversations"`
}

// listConversations answers GET /api/chat/conversations: the conversations
// that have messages, most recent activity first.
func (h *handler) listConversations(w http.ResponseWriter, r *http.Request) {
	list, err := h.chat.List(r.Context())
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	if list == nil {
		list = []chat.Conversation{}
	}
	h.writeJSON(w, http.StatusOK, conversationsResponse{Conversations: list})
}
