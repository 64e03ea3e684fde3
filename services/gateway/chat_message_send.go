package gateway

import (
	"fmt"
	"net/http"
	"strings"
)

// sendMessage answers POST /api/chat/conversations/{id}/messages with body
// {"content": "..."}: {"type": "command", "message": {...}} for a /command
// answered at once, {"type": "chat", "task_id": "..."} for a message queued for
// the LLM. Unlike the reference, empty and whitespace-only messages and messages
// over the service's size limit are refused (422) before anything is stored.
func (h *handler) sendMessage(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "conversationID") // checked by checkIDs
	content, ok := h.readStringField(w, r, "content")
	if !ok {
		return
	}
	if strings.TrimSpace(content) == "" {
		h.writeError(w, http.StatusUnprocessableEntity, "Message is empty")
		return
	}
	if limit := h.chat.MaxContent(); limit > 0 && len(content) > limit {
		h.writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("Message is too long: %d bytes, the limit is %d", len(content), limit))
		return
	}
	res, err := h.chat.Send(r.Context(), id, content)
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	h.writeJSON(w, http.StatusOK, res)
}
