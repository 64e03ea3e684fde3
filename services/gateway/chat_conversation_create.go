package gateway

import "net/http"

// conversationCreated is the reply of POST /api/chat/conversations.
type conversationCreated struct {
	ConversationID string `json:"conversation_id"`
}

// createConversation answers POST /api/chat/conversations: a new, empty
// conversation. Any request body is ignored.
func (h *handler) createConversation(w http.ResponseWriter, r *http.Request) {
	id, err := h.chat.Create(r.Context())
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	h.writeJSON(w, http.StatusOK, conversationCreated{ConversationID: id})
}
