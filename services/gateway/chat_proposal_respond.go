package gateway

import (
	"fmt"
	"net/http"

	"github.com/stewardhq/steward/internal/msg"
)

// respondToProposal answers POST /api/chat/conversations/{id}/proposals/{pid}
// with body {"option": "..."}: {"message": {...}} when nothing was queued
// (rejected, unknown action) or {"message": {...}, "task_id": "..."} when the
// approved action was queued. The service answers 400 for an unknown proposal,
// one already responded to, or an option the proposal does not list.
func (h *handler) respondToProposal(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "conversationID")     // checked by checkIDs
	proposalID := pathParam(r, "proposalID") // checked by checkIDs
	option, ok := h.readStringField(w, r, "option")
	if !ok {
		return
	}
	if !validOptionID(option) {
		h.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
			"Field 'option' must be an option id (at most %d letters, digits, '_' and '-'), got '%s'",
			msg.MaxTokenLen, clipID(option)))
		return
	}
	res, err := h.chat.Respond(r.Context(), id, proposalID, option)
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	h.writeJSON(w, http.StatusOK, res)
}
