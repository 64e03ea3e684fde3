package gateway

import (
	"fmt"
	"net/http"
)

// respondToProposal answers POST /api/chat/conversations/{id}/proposals/{pid}
// with body {"option": "..."}: {"message": {...}} when nothing was queued
// (rejected, unknown action) or {"message": {...}, "task_id": "..."} when the
// approved action was queued. The service answers 400 for an unknown proposal,
// one already responded to, or an option the proposal does not list.
func (h *handler) respondToProposal(w http.ResponseWriter, r *http.Request) {
	id, ok := h.conversationParam(w, r)
	if !ok {
		return
	}
	proposalID := pathParam(r, "proposalID")
	option, ok := h.readStringField(w, r, "option")
	if !ok {
		return
	}
	if !validProposalID(proposalID) {
		// The conversation check still comes first, as for a valid id.
		if _, err := h.chat.History(r.Context(), id); err != nil {
			h.writeChatError(w, r, err, detailConversationNotFound)
			return
		}
		h.writeError(w, http.StatusBadRequest, fmt.Sprintf("Proposal %s not found", proposalID))
		return
	}
	res, err := h.chat.Respond(r.Context(), id, proposalID, option)
	if err != nil {
		h.writeChatError(w, r, err, detailConversationNotFound)
		return
	}
	h.writeJSON(w, http.StatusOK, res)
}
