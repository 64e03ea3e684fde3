package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/rules"
)

// Stage suffixes of a platform's task types.
const (
	StageCheck    = "check"
	StageCollect  = "collect"
	StageClassify = "classify"
	StageEvaluate = "evaluate"
	StageAct      = "act"
)

// EngineOptions configure the stage engine.
type EngineOptions struct {
	// Config returns the config in force (it may change between tasks).
	Config func() *config.Config
	// Registry holds the manifests.
	Registry *manifest.Registry
	// Integrations are the compiled-in implementations, by type.
	Integrations []platform.Integration
	Bus          *msg.Bus
	// LLMOptions are passed to every LLM client (HTTP client, logger).
	LLMOptions []llm.Option
	Logger     *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Notes publishes the notes that result routes write (nil = Bus).
	Notes audit.Emitter
}

// Engine runs the stages of every platform: the integration's check and
// collect, and the generic classify, evaluate and act.
type Engine struct {
	o     EngineOptions
	impls map[string]platform.Integration

	mu      sync.Mutex
	derived *derived
}

// derived is everything computed from one config: the rules report, the LLM
// clients, the rules hashes. It is rebuilt when the config pointer changes.
type derived struct {
	cfg        *config.Config
	report     *rules.Report
	reportErr  error
	llms       *llm.Registry
	llmErr     error
	rulesHash  map[string]string
	classHash  map[string]string
	platformBy map[string]*config.Platform

	schemaMu sync.Mutex
	schemas  map[string]*llm.Schema // by classification hash
}

// schema returns the compiled LLM schema of a classification set (compiled once
// per config).
func (d *derived) schema(hash string, cs []config.Classification) (*llm.Schema, error) {
	d.schemaMu.Lock()
	defer d.schemaMu.Unlock()
	if s, ok := d.schemas[hash]; ok {
		return s, nil
	}
	doc, err := rules.SchemaJSON(cs)
	if err != nil {
		return nil, err
	}
	s, err := llm.NewSchema("classification", doc)
	if err != nil {
		return nil, err
	}
	if d.schemas == nil {
		d.schemas = map[string]*llm.Schema{}
	}
	d.schemas[hash] = s
	return s, nil
}

// NewEngine returns the stage engine.
func NewEngine(o EngineOptions) (*Engine, error) {
	if o.Config == nil || o.Registry == nil || o.Bus == nil {
		return nil, errors.New("pipeline engine: config, registry and bus are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Every LLM request must run on its profile's lane, whose gate bounds it.
	o.LLMOptions = append([]llm.Option{llm.WithLogger(o.Logger), llm.RequireGate()}, o.LLMOptions...)
	e := &Engine{o: o, impls: map[string]platform.Integration{}}
	for _, in := range o.Integrations {
		e.impls[in.Manifest().Type] = in
	}
	return e, nil
}

// Register adds the stage handlers of every platform of every registered
// integration type to r: check and collect when the integration implements the
// platform, and the generic classify, evaluate and act always; script.run;
// and the result.note route.
func (e *Engine) Register(r *msg.Router) {
	for _, typ := range e.o.Registry.Types() {
		m, _ := e.o.Registry.Get(typ)
		impl := e.impls[typ]
		for _, p := range m.Platforms {
			prefix := typ + "." + p.Name + "."
			var pl platform.Platform
			if impl != nil {
				pl = impl.Platform(p.Name)
			}
			if pl != nil {
				r.Handle(p.EntryTaskType(typ), func(ctx context.Context, t *msg.Task) (any, error) { return pl.Check(ctx, e.env(), t) })
				r.Handle(prefix+StageCollect, func(ctx context.Context, t *msg.Task) (any, error) { return pl.Collect(ctx, e.env(), t) })
			}
			r.Handle(prefix+StageClassify, e.classify)
			r.Handle(prefix+StageEvaluate, e.evaluate)
			r.Handle(prefix+StageAct, e.act)
		}
	}
	r.Handle(rules.TaskScriptRun, e.runScript) // script.go
	e.registerRoutes(r)                        // results.go: result.note
}

// current returns what is derived from the config in force.
func (e *Engine) current() *derived {
	cfg := e.o.Config()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.derived != nil && e.derived.cfg == cfg {
		return e.derived
	}
	d := &derived{cfg: cfg, rulesHash: map[string]string{}, classHash: map[string]string{}, platformBy: map[string]*config.Platform{}}
	d.report, d.reportErr = rules.Check(cfg, e.o.Registry)
	d.llms, d.llmErr = llm.NewRegistry(cfg.LLMs, e.o.LLMOptions...)
	for i := range cfg.Integrations {
		in := &cfg.Integrations[i]
		for j := range in.Platforms {
			p := &in.Platforms[j]
			k := in.ID() + "/" + p.Name
			d.platformBy[k] = p
			d.rulesHash[k] = hashJSON(p.Automations)
			if pr, ok := d.report.Platform(in.ID(), p.Name); ok {
				d.classHash[k] = pr.ClassificationHash()
			}
		}
	}
	e.derived = d
	return d
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// itemRef is the payload of the generic stages.
type itemRef struct {
	Type        string `json:"type"`
	Integration string `json:"integration"`
	Platform    string `json:"platform"`
	Key         string `json:"key"`
}

func decodeRef(t *msg.Task) (itemRef, error) {
	var ref itemRef
	if err := t.Decode(&ref); err != nil {
		return ref, err
	}
	if ref.Integration == "" || ref.Platform == "" || ref.Key == "" {
		return ref, msg.Permanent(fmt.Errorf("%s: payload needs integration, platform and key", t.Type))
	}
	return ref, nil
}

// resolved is one item with its config context.
type resolved struct {
	d        *derived
	in       *config.Integration
	pc       *config.Platform
	mp       *manifest.Platform
	rules    *rules.PlatformRules
	item     *items.Item
	storeKey string
}

// resolve loads an item and its integration, platform and rules; what cannot be
// found is a permanent error (retrying will not make it appear).
func (e *Engine) resolve(ctx context.Context, ref itemRef) (*resolved, error) {
	d := e.current()
	in, ok := d.cfg.Integration(ref.Integration)
	if !ok {
		return nil, msg.Permanent(fmt.Errorf("integration %q is not configured", ref.Integration))
	}
	pc, ok := in.Platform(ref.Platform)
	if !ok {
		return nil, msg.Permanent(fmt.Errorf("platform %q is not enabled in %q", ref.Platform, ref.Integration))
	}
	m, _ := e.o.Registry.Get(in.Type)
	var mp *manifest.Platform
	if m != nil {
		mp, _ = m.Platform(ref.Platform)
	}
	pr, _ := d.report.Platform(in.ID(), pc.Name)
	r := &resolved{d: d, in: in, pc: pc, mp: mp, rules: pr, storeKey: items.StoreKey(ref.Integration, ref.Platform, ref.Key)}
	var it items.Item
	if _, err := e.o.Bus.Items().Get(ctx, r.storeKey, &it); err != nil {
		if errors.Is(err, msg.ErrNotFound) {
			return nil, msg.Permanent(fmt.Errorf("item %s/%s %q not found", ref.Integration, ref.Platform, ref.Key))
		}
		return nil, err
	}
	r.item = &it
	return r, nil
}

// resolveTask decodes a generic stage task and resolves its item and rules.
func (e *Engine) resolveTask(ctx context.Context, t *msg.Task) (itemRef, *resolved, error) {
	ref, err := decodeRef(t)
	if err != nil {
		return ref, nil, err
	}
	r, err := e.resolve(ctx, ref)
	if err != nil {
		return ref, nil, err
	}
	if r.rules == nil {
		return ref, nil, msg.Permanent(fmt.Errorf("no rules compiled for %s/%s: %v", ref.Integration, ref.Platform, r.d.reportErr))
	}
	return ref, r, nil
}

// updateItem applies fn to the stored item with compare-and-set retries.
func (e *Engine) updateItem(ctx context.Context, integration, plat, key string, fn func(it *items.Item, exists bool) error) (*items.Item, error) {
	var it items.Item
	err := e.o.Bus.Items().Mutate(ctx, items.StoreKey(integration, plat, key), &it, func(exists bool) error {
		if !exists {
			it = items.Item{Integration: integration, Platform: plat, Key: key, Status: items.StatusActive, CreatedAt: e.o.Now().UTC()}
		}
		if err := fn(&it, exists); err != nil {
			return err
		}
		it.Integration, it.Platform, it.Key = integration, plat, key
		if it.Facts == nil {
			it.Facts = map[string]any{}
		}
		if it.Status == "" {
			it.Status = items.StatusActive
		}
		it.UpdatedAt = e.o.Now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &it, nil
}

// queueStage publishes a generic stage task for an item.
func (e *Engine) queueStage(ctx context.Context, it *items.Item, stage, lane string, prio int, provenance string, extra map[string]any) (msg.Published, error) {
	typ := typeOf(e.o.Registry, it.Integration) + "." + it.Platform + "." + stage
	payload := map[string]any{"integration": it.Integration, "platform": it.Platform, "key": it.Key}
	for k, v := range extra {
		payload[k] = v
	}
	return e.o.Bus.Publish(ctx, msg.Spec{Type: typ, Payload: payload, Priority: prio, Lane: lane, Provenance: provenance, ApplyPolicy: true})
}

// typeOf returns the integration type of a composite id.
func typeOf(_ *manifest.Registry, integrationID string) string {
	typ, _, _ := strings.Cut(integrationID, ".")
	return typ
}

// audit emits a daily-log line.
func (e *Engine) audit(ctx context.Context, ev audit.Event) {
	if err := audit.Emit(ctx, e.o.Bus, ev); err != nil {
		e.o.Logger.Warn("could not write to the daily log", "err", err, "text", ev.Text)
	}
}

// sortedNames lists map keys sorted (for stable messages).
func sortedNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Env is the platform environment the engine gives integrations (for tools and
// tests that need the same view: hashes in force, items).
func (e *Engine) Env() platform.Env { return e.env() }
