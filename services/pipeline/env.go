package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
)

// env is the Engine's implementation of platform.Env.
type env struct{ e *Engine }

var _ platform.Env = env{}

func (e *Engine) env() env { return env{e: e} }

func (v env) Config() *config.Config { return v.e.current().cfg }

func (v env) Integration(id string) (*config.Integration, error) {
	cfg := v.Config()
	in, ok := cfg.Integration(id)
	if !ok {
		ids := make([]string, len(cfg.Integrations))
		for i, x := range cfg.Integrations {
			ids[i] = x.ID()
		}
		return nil, msg.Permanent(fmt.Errorf("Unknown integration '%s'. Available: [%s]", id, strings.Join(ids, ", ")))
	}
	return in, nil
}

func (v env) Item(ctx context.Context, integration, plat, key string) (*items.Item, error) {
	var it items.Item
	if _, err := v.e.o.Bus.Items().Get(ctx, items.StoreKey(integration, plat, key), &it); err != nil {
		return nil, err
	}
	return &it, nil
}

func (v env) Items(ctx context.Context, integration, plat string) ([]*items.Item, error) {
	var out []*items.Item
	var decodeErr error
	err := v.e.o.Bus.Items().List(ctx, items.Prefix(integration, plat), func(key string, value []byte) {
		var it items.Item
		if err := json.Unmarshal(value, &it); err != nil {
			decodeErr = fmt.Errorf("item %s: %w", key, err)
			return
		}
		out = append(out, &it)
	})
	if err != nil {
		return nil, err
	}
	if decodeErr != nil {
		v.e.o.Logger.Warn("unreadable item skipped", "err", decodeErr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (v env) UpdateItem(ctx context.Context, integration, plat, key string, fn func(it *items.Item, exists bool) error) (*items.Item, error) {
	return v.e.updateItem(ctx, integration, plat, key, fn)
}

func (v env) QueueClassify(ctx context.Context, it *items.Item, priority int) error {
	in, err := v.Integration(it.Integration)
	if err != nil {
		return err
	}
	profile := in.LLM
	if profile == "" {
		profile = "default"
	}
	_, err = v.e.queueStage(ctx, it, StageClassify, msg.LLMLane(profile), priority, "", nil)
	return err
}

func (v env) QueueEvaluate(ctx context.Context, it *items.Item) error {
	_, err := v.e.queueStage(ctx, it, StageEvaluate, msg.LaneIO, msg.PriorityEvaluate, "", nil)
	return err
}

func (v env) ClassificationHash(integration, plat string) string {
	return v.e.current().classHash[integration+"/"+plat]
}

func (v env) RulesHash(integration, plat string) string {
	return v.e.current().rulesHash[integration+"/"+plat]
}

func (v env) Publish(ctx context.Context, spec msg.Spec) (msg.Published, error) {
	return v.e.o.Bus.Publish(ctx, spec)
}

func (v env) Audit(ctx context.Context, ev audit.Event) error { return audit.Emit(ctx, v.e.o.Bus, ev) }

func (v env) Logger() *slog.Logger { return v.e.o.Logger }

func (v env) Now() time.Time { return v.e.o.Now() }
