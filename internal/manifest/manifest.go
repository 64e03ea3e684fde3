// Package manifest holds the data model an integration type declares about itself:
// its instance config fields, its platforms (entry task, stage handlers, actions and
// their reversibility tier, default classifications) and its services. It is the Go
// counterpart of the reference system's manifest.yaml files.
//
// The package is pure data: it never performs I/O and never imports services.
package manifest

import (
	"fmt"
	"sort"
)

// FieldType is the JSON-schema-like type of a config field.
type FieldType string

// Field types accepted in instance and platform config schemas.
const (
	TypeString  FieldType = "string"
	TypeInteger FieldType = "integer"
	TypeNumber  FieldType = "number"
	TypeBoolean FieldType = "boolean"
	// TypeList is a list whose element type is given by Field.Items; an empty Items
	// means a list of anything (strings or mappings).
	TypeList FieldType = "array"
)

// Field declares one config field of an integration instance or platform block.
type Field struct {
	Name        string
	Type        FieldType
	Items       FieldType // element type for TypeList; "" = any
	Required    bool
	Default     any  // used when the field is absent; nil = no default
	Secret      bool // the value is a credential: masked in every output
	Description string
	// Check, when set, validates a text field's value at config load; its
	// error becomes the config error at the value's line (so it must not quote
	// a credential). It is not called for secret fields.
	Check func(value string) error
}

// Tier says whether an action can be undone.
type Tier int

// Reversibility tiers. The zero value is Irreversible so that an undeclared
// action fails closed.
const (
	Irreversible Tier = iota
	Reversible
)

// String names the tier.
func (t Tier) String() string {
	if t == Reversible {
		return "reversible"
	}
	return "irreversible"
}

// Action declares one action a platform's act stage can perform.
type Action struct {
	Name        string
	Tier        Tier
	Description string
	// Once makes a reversible action at-most-once per item too (a draft reply:
	// undoable, but a second copy every cycle would be a bug). Irreversible
	// actions are always at most once.
	Once bool
}

// Classification is a built-in default classification of a platform.
type Classification struct {
	Name   string
	Prompt string
	Type   string // confidence | boolean | enum
	Values []string
}

// Platform declares one resource kind inside an integration type (email → inbox).
type Platform struct {
	Name string
	// EntryTask is the suffix of the task the scheduler and manual triggers start
	// (default "check"); the full type is <domain>.<platform>.<entry>.
	EntryTask string
	// Stages are the handler suffixes of this platform's pipeline, in flow order.
	Stages []string
	// Fields are the platform-specific config fields (besides classifications and automations).
	Fields []Field
	// Actions the act stage knows, each with its reversibility tier. An action not
	// listed here is rejected by the rules engine.
	Actions []Action
	// DeterministicKeys are the top-level fact names (e.g. "domain", "authentication")
	// that rules may test without involving the LLM.
	DeterministicKeys []string
	// DefaultClassifications apply when a platform block configures none.
	DefaultClassifications []Classification
}

// EntryTaskType returns the full entry task type, e.g. "email.inbox.check".
func (p Platform) EntryTaskType(domain string) string {
	entry := p.EntryTask
	if entry == "" {
		entry = "check"
	}
	return domain + "." + p.Name + "." + entry
}

// Action returns the declared action with that name.
func (p Platform) Action(name string) (Action, bool) {
	for _, a := range p.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// ChatSpec makes a service proposable from chat.
type ChatSpec struct {
	Description string
	// Options are the buttons of the service's proposal card (nil = Approve and
	// Cancel). The option with id "reject" cancels; every other listed option
	// approves, and no option outside this list is accepted.
	Options []Option
}

// Option is one button of a chat proposal card.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Service declares a callable handler of an integration type (task type
// service.<domain>.<name>).
type Service struct {
	Name        string
	Description string
	Reversible  bool
	InputSchema map[string]any
	HumanLog    string // human-log template; "" = none
	Chat        *ChatSpec
}

// Manifest is everything an integration type declares.
type Manifest struct {
	Type        string // the domain, e.g. "email"
	DisplayName string
	Version     string
	Fields      []Field
	Platforms   []Platform
	Services    []Service
}

// Platform returns the named platform.
func (m *Manifest) Platform(name string) (*Platform, bool) {
	for i := range m.Platforms {
		if m.Platforms[i].Name == name {
			return &m.Platforms[i], true
		}
	}
	return nil, false
}

// Service returns the named service.
func (m *Manifest) Service(name string) (*Service, bool) {
	for i := range m.Services {
		if m.Services[i].Name == name {
			return &m.Services[i], true
		}
	}
	return nil, false
}

// PlatformNames lists the platforms in declaration order.
func (m *Manifest) PlatformNames() []string {
	out := make([]string, len(m.Platforms))
	for i, p := range m.Platforms {
		out[i] = p.Name
	}
	return out
}

// Registry holds the manifests of every integration type compiled into the binary.
// It is built once at start-up and then only read.
type Registry struct {
	byType map[string]*Manifest
}

// NewRegistry builds a registry; duplicate types are an error.
func NewRegistry(ms ...*Manifest) (*Registry, error) {
	r := &Registry{byType: make(map[string]*Manifest, len(ms))}
	for _, m := range ms {
		if m.Type == "" {
			return nil, fmt.Errorf("manifest without a type")
		}
		if _, dup := r.byType[m.Type]; dup {
			return nil, fmt.Errorf("integration type %q declared twice", m.Type)
		}
		r.byType[m.Type] = m
	}
	return r, nil
}

// Get returns the manifest of an integration type.
func (r *Registry) Get(typ string) (*Manifest, bool) {
	if r == nil {
		return nil, false
	}
	m, ok := r.byType[typ]
	return m, ok
}

// Types lists the registered integration types, sorted.
func (r *Registry) Types() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.byType))
	for t := range r.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
