package gateway

import (
	"net/http"

	"github.com/stewardhq/steward/services/chat"
)

// pollResponse is the reply of GET /api/chat/tasks/{id}: messages is left out
// while the task is pending and always present (possibly []) once it is done
// or failed.
type pollResponse struct {
	Status   string         `json:"status"`
	Messages []chat.Message `json:"messages,omitzero"`
}

// pollChatTask answers GET /api/chat/tasks/{id}: {"status": "pending"}, or
// {"status": "done"|"failed", "messages": [...]} with the messages the task
// produced. The answer is the same on every poll.
func (h *handler) pollChatTask(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "chatTaskID") // checked by checkIDs
	res, err := h.chat.Poll(r.Context(), id)
	if err != nil {
		h.writeChatError(w, r, err, detailTaskNotFound)
		return
	}
	out := pollResponse{Status: res.Status}
	if res.Status != "pending" {
		out.Messages = res.Messages
		if out.Messages == nil {
			out.Messages = []chat.Message{}
		}
	}
	h.writeJSON(w, http.StatusOK, out)
}
