package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/stewardhq/steward/internal/msg"
)

// getTask answers GET /api/tasks/{id} with the task's status record.
func (h *handler) getTask(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "taskID")
	if h.bus == nil {
		h.writeError(w, http.StatusServiceUnavailable, "Task queue unavailable")
		return
	}
	st, err := h.bus.Status(r.Context(), id)
	switch {
	case errors.Is(err, msg.ErrNotFound):
		h.writeError(w, http.StatusNotFound, fmt.Sprintf("Task '%s' not found", id))
	case err != nil:
		h.log.Error("Reading task status failed", "task_id", id, "err", err)
		h.writeError(w, http.StatusServiceUnavailable, "Task queue unavailable")
	default:
		h.writeJSON(w, http.StatusOK, st)
	}
}
