package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
)

// classify is the generic classify stage: ask the integration's LLM profile to
// classify an item with the platform's classifications (its defaults when none
// are configured), validate the answer, store it with the hash of the
// classification config, and queue the evaluate stage. An item already
// classified with the same config is not sent to the LLM again; a changed prompt,
// type, value list or order re-classifies it.
func (e *Engine) classify(ctx context.Context, t *msg.Task) (any, error) {
	ref, r, err := e.resolveTask(ctx, t)
	if err != nil {
		return nil, err
	}
	cs := r.rules.Classifications()
	hash := r.rules.ClassificationHash()
	if r.item.ClassificationHash == hash && r.item.Classification != nil {
		if err := e.env().QueueEvaluate(ctx, r.item); err != nil {
			return nil, err
		}
		return map[string]any{"skipped": "already classified with this classification config"}, nil
	}

	result := map[string]any{}
	var by *items.ClassifiedBy
	if len(cs) > 0 {
		if r.d.llmErr != nil {
			return nil, msg.Permanent(fmt.Errorf("LLM profiles: %w", r.d.llmErr))
		}
		profile := r.in.LLM
		client, err := r.d.llms.Client(profile)
		if err != nil {
			return nil, msg.Permanent(err)
		}
		schema, err := r.d.schema(hash, cs)
		if err != nil {
			return nil, msg.Permanent(err)
		}
		conv := llm.NewConversation(client, classifySystemPrompt)
		// Each request holds the lane's lease only while it is in flight (the
		// lane's llm.Gate): the next task uses the LLM while this one stores.
		answer, err := conv.SendStructured(ctx, renderClassifyPrompt(r.item, cs, llm.NewSalt()), schema)
		if err != nil {
			if llm.IsPermanent(err) {
				return nil, msg.Permanent(err)
			}
			return nil, err // transient: retried with backoff by the task layer
		}
		if err := rules.ValidateResult(cs, answer); err != nil {
			return nil, fmt.Errorf("LLM answer out of bounds: %w", err)
		}
		// Keep only the configured names: extra keys are not evidence for anything.
		for _, c := range cs {
			result[c.Name] = answer[c.Name]
		}
		by = &items.ClassifiedBy{Model: client.Model(), Profile: client.Profile(), Timestamp: e.o.Now().UTC()}
	}

	it, err := e.updateItem(ctx, ref.Integration, ref.Platform, ref.Key, func(it *items.Item, exists bool) error {
		if !exists {
			return msg.Permanent(fmt.Errorf("item %q vanished while it was classified", ref.Key))
		}
		it.Classification = result
		it.ClassificationHash = hash
		it.ClassifiedBy = by
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cs) > 0 {
		e.audit(ctx, audit.Event{Source: ref.Integration, Kind: audit.KindClassified, Integration: ref.Integration,
			Platform: ref.Platform, Item: ref.Key, ID: t.ID + ":classified",
			Text: fmt.Sprintf("Classified %s: %s", describeItem(it), summarize(result))})
	}
	if err := e.env().QueueEvaluate(ctx, it); err != nil {
		return nil, err
	}
	return map[string]any{"classification": result}, nil
}

// describeItem names an item in the daily log.
func describeItem(it *items.Item) string {
	if it.Title != "" {
		return "`" + shorten(it.Title, 60) + "`"
	}
	return "`" + shorten(it.Key, 60) + "`"
}

// summarize renders a classification as "human 0.92, priority high".
func summarize(c map[string]any) string {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		v := c[k]
		switch x := v.(type) {
		case float64:
			parts = append(parts, k+" "+strconv.FormatFloat(x, 'f', -1, 64))
		default:
			parts = append(parts, fmt.Sprintf("%s %v", k, x))
		}
	}
	return strings.Join(parts, ", ")
}

// shorten cuts s to n characters with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
