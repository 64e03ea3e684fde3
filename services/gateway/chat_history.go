package gateway

import (
	"net/http"

	"github.com/stewardhq/steward/services/chat"
)

// historyResponse is the reply of GET /api/chat/conversations/{id}/history.
type historyResponse struct {
	ConversationID string         `json:"conversation_id"`
	Messages       []chat.Message `json:"messages"`
}

// getHistory answers GET /api/chat/conversations/{id}/history: every message
// of the conversation in order ([] when it has none).
func (h *handler) getHistory(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "conversationID") // checked by checkIDs
	msgs, err := h.chat.History(r.Context(), id)
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	if msgs == nil {
		msgs = []chat.Message{}
	}
	h.writeJSON(w, http.StatusOK, historyResponse{ConversationID: id, Messages: msgs})
}
