package chat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/msg"
)

// Texts of proposal responses (spec §2.9).
const (
	textCancelled  = "Action cancelled."
	textProcessing = "Processing..."
	textUnknownAct = "Unknown action: %s"
)

// Respond records a click on a proposal option and queues the approved action.
// See the package doc for the checks and their order.
func (s *Service) Respond(ctx context.Context, id, proposalID, option string) (RespondResult, error) {
	var card *record
	for attempt := 0; ; attempt++ {
		recs, last, err := s.load(ctx, id)
		if err != nil {
			return RespondResult{}, err
		}
		card = findCard(recs, proposalID)
		if card == nil {
			return RespondResult{}, &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("Proposal %s not found", proposalID)}
		}
		if responded(recs, proposalID) {
			return RespondResult{}, &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("Proposal %s already responded to", proposalID)}
		}
		ids := optionIDs(card)
		if !contains(ids, option) {
			return RespondResult{}, &RequestError{Status: http.StatusBadRequest, Detail: fmt.Sprintf("Invalid option %s. Valid: %s", pyRepr(clip(option, 100)), pySet(ids))}
		}
		resp := s.newRecord(roleUser, typeResponse, option, map[string]any{keyProposalID: proposalID, keyOption: option})
		data, err := jsonRecord(resp)
		if err != nil {
			return RespondResult{}, err
		}
		// Claim the proposal: only if nothing was appended since it was read, so
		// two concurrent clicks record one response.
		if _, err := s.o.Bus.ChatAppendIf(ctx, id, data, last); err != nil {
			if errors.Is(err, msg.ErrConflict) && attempt < 20 {
				continue // something else was appended: look again
			}
			return RespondResult{}, err
		}
		break
	}

	if option == optionReject {
		m := s.newRecord(roleSystem, typeSystem, textCancelled, nil)
		if err := s.appendRecord(ctx, id, m); err != nil {
			return RespondResult{}, err
		}
		return RespondResult{Message: m.message()}, nil
	}

	actionName := card.meta("action")
	a := s.current().byKey[actionName]
	if a == nil {
		m := s.newRecord(roleSystem, typeSystem, fmt.Sprintf(textUnknownAct, actionName),
			map[string]any{keyProposalID: proposalID, keyStatus: statusFailed})
		if err := s.appendRecord(ctx, id, m); err != nil {
			return RespondResult{}, err
		}
		return RespondResult{Message: m.message()}, nil
	}
	taskID := msg.NewTaskID(a.Key, msg.PriorityChatAction)
	processing := s.newRecord(roleSystem, typeSystem, textProcessing, map[string]any{keyReplyTask: taskID})
	if err := s.appendRecord(ctx, id, processing); err != nil {
		return RespondResult{}, err
	}
	params, _ := card.Metadata["parameters"].(map[string]any)
	if params == nil {
		params = map[string]any{}
	}
	payload := map[string]any{
		"inputs":    params,
		keyOption:   option,
		"on_result": []any{map[string]any{"type": RouteChatReply, "conversation_id": id, keyProposalID: proposalID}},
	}
	if a.Integration != "" {
		payload["integration"] = a.Integration
	}
	p, err := s.o.Bus.Publish(ctx, msg.Spec{ID: taskID, Type: a.Key, Payload: payload, Priority: msg.PriorityChatAction,
		Lane: msg.LaneIO, Provenance: msg.ProvenanceRule})
	if err != nil {
		failed := s.newRecord(roleSystem, typeSystem, fmt.Sprintf("%s failed: could not queue the task: %v", a.Key, err),
			map[string]any{keyProposalID: proposalID, keyStatus: statusFailed})
		if aerr := s.appendRecord(ctx, id, failed); aerr != nil {
			s.o.Logger.Error("could not record a failed chat action", "action", a.Key, "err", aerr)
		}
		return RespondResult{}, fmt.Errorf("queue %s: %w", a.Key, err)
	}
	s.audit(ctx, p.ID+":approved", fmt.Sprintf("Chat action approved: %s (task %s)", a.Key, p.ID))
	return RespondResult{Message: processing.message(), TaskID: p.ID}, nil
}

// findCard returns the newest proposal card with that id.
func findCard(recs []entry, pid string) *record {
	for i := len(recs) - 1; i >= 0; i-- {
		if r := &recs[i].rec; r.Type == typeConfirmation && r.meta(keyProposalID) == pid {
			return r
		}
	}
	return nil
}

// responded reports whether a response to the proposal is recorded.
func responded(recs []entry, pid string) bool {
	for _, e := range recs {
		if e.rec.Type == typeResponse && e.rec.meta(keyProposalID) == pid {
			return true
		}
	}
	return false
}

// optionIDs are the option ids of a card, in order.
func optionIDs(card *record) []string {
	list, _ := card.Metadata["options"].([]any)
	var ids []string
	for _, o := range list {
		if m, ok := o.(map[string]any); ok {
			if id, ok := m["id"].(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pyRepr quotes a string as Python's repr does (single quotes unless it
// contains one and no double quote).
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// pySet renders ids as a Python set literal, in card order.
func pySet(ids []string) string {
	if len(ids) == 0 {
		return "set()"
	}
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = pyRepr(id)
	}
	return "{" + strings.Join(q, ", ") + "}"
}
