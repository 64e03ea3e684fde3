package gateway

import (
	"fmt"
	"net/http"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
)

// runResponse is the reply of both run endpoints.
type runResponse struct {
	TaskIDs []string `json:"task_ids"`
	Status  string   `json:"status"`
}

// entryTarget is one platform to start and the entry task that starts it.
type entryTarget struct {
	platform string
	taskType string
}

// runIntegration answers POST /integrations/{id}/run: it publishes the entry task
// of every enabled platform, in manifest order, skipping (with a warning) those
// that have none.
func (h *handler) runIntegration(w http.ResponseWriter, r *http.Request) {
	in, ok := h.resolveIntegration(w, pathParam(r, "integrationID"))
	if !ok {
		return
	}
	var targets []entryTarget
	for _, p := range in.Platforms {
		taskType, ok := h.entryTask(in.Type, p.Name)
		if !ok {
			h.log.Warn(fmt.Sprintf("No entry task for %s.%s", in.Type, p.Name), "integration", in.ID())
			continue
		}
		targets = append(targets, entryTarget{platform: p.Name, taskType: taskType})
	}
	if len(targets) == 0 {
		h.writeError(w, http.StatusBadRequest,
			fmt.Sprintf("No entry tasks found for enabled platforms in '%s'", in.ID()))
		return
	}
	h.publishEntryTasks(w, r, in, targets)
}

// runPlatform answers POST /integrations/{id}/{platform}/run: it publishes the
// entry task of one enabled platform.
func (h *handler) runPlatform(w http.ResponseWriter, r *http.Request) {
	in, ok := h.resolveIntegration(w, pathParam(r, "integrationID"))
	if !ok {
		return
	}
	platform := pathParam(r, "platform")
	// An unknown platform and a known but disabled one get the same answer.
	if _, ok := in.Platform(platform); !ok {
		h.writeError(w, http.StatusNotFound,
			fmt.Sprintf("Platform '%s' not configured in '%s'", platform, in.ID()))
		return
	}
	taskType, ok := h.entryTask(in.Type, platform)
	if !ok {
		h.writeError(w, http.StatusBadRequest, fmt.Sprintf("No entry task for %s.%s", in.Type, platform))
		return
	}
	h.publishEntryTasks(w, r, in, []entryTarget{{platform: platform, taskType: taskType}})
}

// resolveIntegration applies the first two steps shared by both run endpoints:
// the integration exists (else 404) and has a platforms block (else 400). It
// writes the error reply itself and reports whether to go on.
func (h *handler) resolveIntegration(w http.ResponseWriter, id string) (*config.Integration, bool) {
	in, ok := h.currentConfig().Integration(id)
	if !ok {
		h.writeError(w, http.StatusNotFound, fmt.Sprintf("Integration '%s' not found", id))
		return nil, false
	}
	if !in.HasPlatforms {
		h.writeError(w, http.StatusBadRequest, fmt.Sprintf("Integration '%s' has no platforms configured", id))
		return nil, false
	}
	return in, true
}

// entryTask returns the entry task type the manifest declares for a platform of
// an integration type.
func (h *handler) entryTask(integrationType, platform string) (string, bool) {
	m, ok := h.registry.Get(integrationType)
	if !ok {
		return "", false
	}
	p, ok := m.Platform(platform)
	if !ok {
		return "", false
	}
	return p.EntryTaskType(m.Type), true
}

// publishEntryTasks publishes one entry task per target and answers with their
// ids. Manual triggers bypass the queue policies, as in the reference: every
// call creates new tasks.
func (h *handler) publishEntryTasks(w http.ResponseWriter, r *http.Request, in *config.Integration, targets []entryTarget) {
	if h.bus == nil {
		h.writeError(w, http.StatusServiceUnavailable, "Task queue unavailable")
		return
	}
	ids := make([]string, 0, len(targets))
	for _, t := range targets {
		pub, err := h.bus.Publish(r.Context(), msg.Spec{
			Type: t.taskType,
			Payload: map[string]any{
				"type":        t.taskType,
				"integration": in.ID(),
				"platform":    t.platform,
			},
			Priority:    msg.PriorityDefault,
			Lane:        msg.LaneIO,
			ApplyPolicy: false,
		})
		if err != nil {
			h.log.Error("Publishing entry task failed",
				"integration", in.ID(), "platform", t.platform, "type", t.taskType,
				"published", ids, "err", err)
			h.writeError(w, http.StatusServiceUnavailable, "Task queue unavailable")
			return
		}
		if pub.Skipped != "" {
			// Not expected without policies; say so rather than return an empty id.
			h.log.Warn("Entry task was not published",
				"integration", in.ID(), "platform", t.platform, "type", t.taskType, "reason", pub.Skipped)
			continue
		}
		h.log.Info("Manual trigger",
			"integration", in.ID(), "platform", t.platform, "type", t.taskType, "task_id", pub.ID)
		ids = append(ids, pub.ID)
	}
	h.writeJSON(w, http.StatusOK, runResponse{TaskIDs: ids, Status: msg.StatePending})
}
