package chat

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/manifest"
)

// action is one chat-proposable service on offer.
type action struct {
	// Key is the action name the LLM proposes and the task type:
	// service.<type>.<service>.
	Key         string
	Type        string
	Service     *manifest.Service
	Description string
	Options     []manifest.Option
	// Integration is the configured instance id put into approved tasks (""
	// when none or several are configured).
	Integration string
	// params validates proposed parameters (nil = any object).
	params *llm.Schema
}

// defaultOptions are the buttons of a card whose service declares none.
func defaultOptions() []manifest.Option {
	return []manifest.Option{{ID: "approve", Label: "Approve"}, {ID: optionReject, Label: "Cancel"}}
}

// derived is what is computed from one config.
type derived struct {
	cfg     *config.Config
	actions []*action
	byKey   map[string]*action
	llms    *llm.Registry
	llmErr  error
}

// current returns what is derived from the config in force, rebuilt when the
// config changes.
func (s *Service) current() *derived {
	cfg := s.o.Config()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.derived != nil && s.derived.cfg == cfg {
		return s.derived
	}
	d := &derived{cfg: cfg, byKey: map[string]*action{}}
	if cfg != nil {
		d.llms, d.llmErr = llm.NewRegistry(cfg.LLMs, llm.WithLogger(s.o.Logger), llm.RequireGate())
	} else {
		d.llmErr = fmt.Errorf("no config")
	}
	d.actions = s.buildActions(cfg)
	for _, a := range d.actions {
		d.byKey[a.Key] = a
	}
	s.derived = d
	return d
}

// allChatServices lists every service with a chat block, in registry order:
// types sorted, services in declaration order.
func (s *Service) allChatServices() []*action {
	var out []*action
	for _, typ := range s.o.Registry.Types() {
		m, _ := s.o.Registry.Get(typ)
		for i := range m.Services {
			svc := &m.Services[i]
			if svc.Chat == nil {
				continue
			}
			a := &action{Key: "service." + typ + "." + svc.Name, Type: typ, Service: svc,
				Description: svc.Chat.Description, Options: svc.Chat.Options}
			if a.Description == "" {
				a.Description = svc.Description
			}
			if len(a.Options) == 0 {
				a.Options = defaultOptions()
			}
			out = append(out, a)
		}
	}
	return out
}

// buildActions returns the chat actions on offer with this config: services
// with a chat block whose type is configured, or needs no instance config, and
// that have a handler (once Register has run). Called with s.mu held.
func (s *Service) buildActions(cfg *config.Config) []*action {
	var out []*action
	for _, a := range s.allChatServices() {
		if s.handled != nil && !s.handled[a.Key] {
			continue // no implementation in this binary yet
		}
		m, _ := s.o.Registry.Get(a.Type)
		var ids []string
		if cfg != nil {
			for _, in := range cfg.Integrations {
				if in.Type == a.Type {
					ids = append(ids, in.ID())
				}
			}
		}
		if len(ids) == 0 && len(m.Fields) > 0 {
			continue // needs a configured instance to run
		}
		switch len(ids) {
		case 1:
			a.Integration = ids[0]
		case 0:
		default:
			s.o.Logger.Warn("several integrations of this type are configured: an approved chat action carries none, its service must choose",
				"action", a.Key, "integrations", strings.Join(ids, ", "))
		}
		if a.Service.InputSchema != nil {
			sc, err := llm.NewSchemaValue("parameters", a.Service.InputSchema)
			if err != nil {
				s.o.Logger.Warn("chat action not offered: its input_schema does not compile", "action", a.Key, "err", err)
				continue
			}
			a.params = sc
		}
		out = append(out, a)
	}
	return out
}

// actionInstructions open the action block (the reference's action_prompt).
const actionInstructions = `You can propose actions for the user to approve. Your response must be valid JSON with a required "reply" (the text the user sees) and a "proposal" that is either an action proposal or null.

Without an action:
{"reply": "...", "proposal": null}

With an action:
{"reply": "...", "proposal": {"action": "<one of the actions below>", "parameters": {...}, "description": "<one line saying what will happen>"}}

Only propose an action when the user clearly wants something done. The user sees the proposal as a card with buttons and decides; do not describe the proposal in the reply.`

// actionBlock renders the available actions for the system prompt ("" when
// there are none).
func actionBlock(actions []*action) string {
	if len(actions) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(actionInstructions)
	b.WriteString("\n\nAvailable actions:\n")
	for _, a := range actions {
		b.WriteString("\n  " + a.Key + "\n")
		if a.Description != "" {
			b.WriteString("    " + a.Description + "\n")
		}
		if params := parameterLines(a.Service.InputSchema); len(params) > 0 {
			b.WriteString("    Parameters:\n")
			for _, p := range params {
				b.WriteString("      - " + p + "\n")
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// parameterLines renders input_schema.properties as "name: type (required) —
// description": required ones first in their declared order, then the rest by
// name.
func parameterLines(schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	if len(props) == 0 {
		return nil
	}
	required := map[string]bool{}
	var order []string
	switch req := schema["required"].(type) {
	case []any:
		for _, r := range req {
			if n, ok := r.(string); ok && !required[n] {
				required[n] = true
				if _, ok := props[n]; ok {
					order = append(order, n)
				}
			}
		}
	case []string:
		for _, n := range req {
			if !required[n] {
				required[n] = true
				if _, ok := props[n]; ok {
					order = append(order, n)
				}
			}
		}
	}
	var rest []string
	for n := range props {
		if !required[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	order = append(order, rest...)
	out := make([]string, 0, len(order))
	for _, n := range order {
		p, _ := props[n].(map[string]any)
		typ, _ := p["type"].(string)
		if typ == "" {
			typ = "string"
		}
		line := n + ": " + typ
		if required[n] {
			line += " (required)"
		}
		if d, _ := p["description"].(string); d != "" {
			line += " — " + d
		}
		out = append(out, line)
	}
	return out
}

// systemPrompt is chat.system_prompt and the action block, joined by a blank
// line.
func systemPrompt(cfg *config.Config, actions []*action) string {
	var parts []string
	if cfg != nil && strings.TrimSpace(cfg.Chat.SystemPrompt) != "" {
		parts = append(parts, cfg.Chat.SystemPrompt)
	}
	if block := actionBlock(actions); block != "" {
		parts = append(parts, block)
	}
	return strings.Join(parts, "\n\n")
}

// replySchemaJSON is the structured output requested when actions exist (spec
// §2.6): proposal optional and not nullable (llama.cpp grammars), property order
// reply first.
const replySchemaJSON = `{"type":"object","properties":{` +
	`"reply":{"type":"string","description":"Your reply to the user"},` +
	`"proposal":{"type":"object","description":"An action for the user to approve, only when they clearly want something done",` +
	`"properties":{"action":{"type":"string"},"parameters":{"type":"object"},"description":{"type":"string"}},` +
	`"required":["action","parameters","description"]}},` +
	`"required":["reply"]}`

// parseSchemaJSON is what a structured reply must be to count as one: an
// object with a string reply. The proposal is checked separately, so that a
// bad (or null) proposal does not turn the reply into raw JSON.
const parseSchemaJSON = `{"type":"object","properties":{"reply":{"type":"string"}},"required":["reply"]}`

// schemas are compiled once.
type schemas struct {
	wire  *llm.Schema
	parse *llm.Schema
	err   error
}

func (s *Service) schemaSet() *schemas {
	s.schemaOnce.Do(func() {
		sc := &schemas{}
		sc.wire, sc.err = llm.NewSchema(llm.DefaultSchemaName, []byte(replySchemaJSON))
		if sc.err == nil {
			sc.parse, sc.err = llm.NewSchema("chat_reply", []byte(parseSchemaJSON))
		}
		s.schemas = sc
	})
	return s.schemas
}

// checkParameters validates proposed parameters against the action's
// input_schema.
func (a *action) checkParameters(params map[string]any) error {
	if a.params == nil {
		return nil
	}
	data, err := json.Marshal(params)
	if err != nil {
		return err
	}
	_, err = a.params.Parse(string(data))
	return err
}
