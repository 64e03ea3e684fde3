package config

import (
	"encoding/json"
	"time"
)

// Secret is a credential resolved from secrets.yaml with !secret (or any field the
// manifest marks secret). Its String, JSON and YAML forms are masked; only Reveal
// returns the value, and only code that hands it to a remote service may call it.
type Secret struct {
	value string
	// Key is the secrets.yaml key it came from ("" when written inline).
	Key string
}

// NewSecret wraps a credential.
func NewSecret(value, key string) Secret { return Secret{value: value, Key: key} }

// Reveal returns the credential itself.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether no value is set.
func (s Secret) IsZero() bool { return s.value == "" }

// String masks the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	if s.Key != "" {
		return "!secret " + s.Key
	}
	return "********"
}

// MarshalJSON masks the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML masks the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Position is where a value was written: file and 1-based line.
type Position struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Config is the whole, validated configuration.
type Config struct {
	// Source is the config file path ("" when started without one).
	Source string `json:"source,omitempty"`

	// LLMs in file order.
	LLMs          []LLMProfile  `json:"llms"`
	Integrations  []Integration `json:"integrations"`
	Directories   Directories   `json:"directories"`
	Scripts       []Script      `json:"scripts"`
	QueuePolicies QueuePolicies `json:"queue_policies"`
	Chat          Chat          `json:"chat"`
	NATS          NATS          `json:"nats"`
	Gateway       Gateway       `json:"gateway"`

	// Warnings are non-fatal problems found at load (safety gate, references, ...).
	Warnings []Warning `json:"warnings"`
	// Notices are informational (obsolete keys, no config file, ...).
	Notices []string `json:"notices"`

	// masks maps each value resolved from secrets.yaml to its key, so that Masked
	// and Describe hide it wherever it was used.
	masks map[string]string
}

// Warning is one non-fatal problem, with where it was written.
type Warning struct {
	Position
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// LLMProfile is one entry under llms.
type LLMProfile struct {
	Name        string         `json:"name"`
	BaseURL     string         `json:"base_url"`
	Model       string         `json:"model"`
	Token       Secret         `json:"token"`
	Parameters  map[string]any `json:"parameters,omitempty"`
	Concurrency int            `json:"concurrency"` // default 1
	Timeout     time.Duration  `json:"timeout"`     // default 10m
	Pos         Position       `json:"-"`
}

// Schedule of an integration: cron wins over every; both empty = none.
type Schedule struct {
	Every string `json:"every,omitempty"`
	Cron  string `json:"cron,omitempty"`
	// Expr is the normalised 5-field cron expression ("" = not scheduled).
	Expr string   `json:"expr,omitempty"`
	Pos  Position `json:"-"`
}

// Integration is one configured instance of an integration type.
type Integration struct {
	Type     string    `json:"type"`
	Name     string    `json:"name"`
	Schedule *Schedule `json:"schedule,omitempty"`
	LLM      string    `json:"llm"`
	// Fields are the manifest-declared instance fields, typed per the manifest
	// (string, int, float64, bool, []any; secrets as Secret).
	Fields map[string]any `json:"fields"`
	// HasPlatforms is false when the type declares no platforms or the config
	// omits `platforms:`.
	HasPlatforms bool `json:"has_platforms"`
	// Platforms are the enabled (non-null) platform blocks in manifest order.
	Platforms []Platform `json:"platforms,omitempty"`
	Pos       Position   `json:"-"`
}

// ID is the composite id "<type>.<name>".
func (i Integration) ID() string { return i.Type + "." + i.Name }

// Platform returns the enabled platform block with that name.
func (i Integration) Platform(name string) (*Platform, bool) {
	for k := range i.Platforms {
		if i.Platforms[k].Name == name {
			return &i.Platforms[k], true
		}
	}
	return nil, false
}

// ClassificationType is confidence, boolean or enum.
type ClassificationType string

// Classification types.
const (
	Confidence ClassificationType = "confidence"
	Boolean    ClassificationType = "boolean"
	Enum       ClassificationType = "enum"
)

// Classification is one thing the LLM is asked to judge about an item.
type Classification struct {
	Name   string             `json:"name"`
	Prompt string             `json:"prompt"`
	Type   ClassificationType `json:"type"`
	Values []string           `json:"values,omitempty"`
	Pos    Position           `json:"-"`
}

// Platform is one enabled platform block of an integration.
type Platform struct {
	Name string `json:"name"`
	// Classifications in file order; empty means "use the platform's defaults".
	Classifications []Classification `json:"classifications,omitempty"`
	Automations     []Automation     `json:"automations,omitempty"`
	// Fields are the manifest-declared platform fields (limit, window, ...).
	Fields map[string]any `json:"fields"`
	Pos    Position       `json:"-"`
}

// Automation is one `when`/`then` rule.
type Automation struct {
	// When lists the conditions in file order; empty always matches.
	When []Condition `json:"when"`
	Then []Action    `json:"then"`
	Pos  Position    `json:"-"`
}

// Condition is one `key: condition` entry of a `when` mapping. Value is the decoded
// YAML value: string, int, float64, bool, time.Time (unquoted dates and timestamps),
// []any, map[string]any or nil. Unquoted yes/no/on/off are booleans (YAML 1.1, as
// the reference reads them); quoted they stay strings.
type Condition struct {
	Key   string   `json:"key"`
	Value any      `json:"value"`
	Pos   Position `json:"-"`
}

// ActionKind says which form an action was written in.
type ActionKind string

// Action kinds.
const (
	ActionSimple  ActionKind = "simple"  // "archive"
	ActionDict    ActionKind = "dict"    // {draft_reply: "..."}, {move_to: "Folder"}
	ActionScript  ActionKind = "script"  // {script: name} or {script: {name, inputs}}
	ActionService ActionKind = "service" // {service: {call, inputs, on_result, human_log}}
)

// Action is one element of a `then` list.
type Action struct {
	Kind ActionKind `json:"kind"`
	// Name is the simple action string for ActionSimple; for ActionDict the keys of
	// Data are all actions (see Keys); "script"/"service" for those kinds.
	Name string `json:"name,omitempty"`
	// Data is the whole mapping of a dict action.
	Data    map[string]any `json:"data,omitempty"`
	Script  *ScriptRef     `json:"script,omitempty"`
	Service *ServiceCall   `json:"service,omitempty"`
	// Yolo is set when the action was tagged !yolo: the user accepts that an
	// LLM-influenced rule may trigger it even if it is irreversible.
	Yolo bool     `json:"yolo,omitempty"`
	Pos  Position `json:"-"`

	order []string // keys of Data as written (see Keys)
}

// ScriptRef names a script and its inputs (values may be templates).
type ScriptRef struct {
	Name   string         `json:"name"`
	Inputs map[string]any `json:"inputs,omitempty"`
}

// ServiceCall is a `service:` action.
type ServiceCall struct {
	Call     string           `json:"call"` // "<type>.<instance>.<service>"
	Inputs   map[string]any   `json:"inputs,omitempty"`
	OnResult []map[string]any `json:"on_result,omitempty"`
	HumanLog string           `json:"human_log,omitempty"`
}

// Directories are where Steward reads and writes files people look at.
type Directories struct {
	Notes string `json:"notes,omitempty"`
	Logs  string `json:"logs"` // default "logs"
	// Data is the data directory (NATS store, ...); default "./data", flag --data.
	Data string `json:"data"`
}

// Script is one entry under scripts.
type Script struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Inputs      []string      `json:"inputs"`
	Timeout     time.Duration `json:"timeout"` // default 120s
	Shell       string        `json:"shell"`
	Output      string        `json:"output,omitempty"`
	OnOutput    string        `json:"on_output"` // default "human_log"
	Reversible  bool          `json:"reversible"`
	Pos         Position      `json:"-"`
}

// RateLimit allows at most Max tasks of a type per Per.
type RateLimit struct {
	Max int           `json:"max"`
	Per time.Duration `json:"per"`
	// PerText is the duration as written (e.g. "1h").
	PerText string `json:"per_text"`
}

// TaskPolicy is the enqueue policy of a task type.
type TaskPolicy struct {
	DeduplicatePending bool       `json:"deduplicate_pending"`
	RateLimit          *RateLimit `json:"rate_limit,omitempty"`
}

// PolicyOverride is a partial policy: nil fields inherit from the defaults.
type PolicyOverride struct {
	DeduplicatePending *bool      `json:"deduplicate_pending,omitempty"`
	RateLimit          *RateLimit `json:"rate_limit,omitempty"`
	// ClearRateLimit records an explicit `rate_limit: null` in the override: the
	// task type then has no rate limit even when the defaults set one.
	ClearRateLimit bool `json:"clear_rate_limit,omitempty"`
}

// QueuePolicies is the queue_policies section.
type QueuePolicies struct {
	Retention     time.Duration             `json:"retention"` // default 7d
	RetentionText string                    `json:"retention_text"`
	Defaults      TaskPolicy                `json:"defaults"`
	Overrides     map[string]PolicyOverride `json:"overrides,omitempty"`
}

// Policy resolves the effective policy of a task type: the override's explicitly
// written fields over the defaults.
func (q QueuePolicies) Policy(taskType string) TaskPolicy {
	p := q.Defaults
	if o, ok := q.Overrides[taskType]; ok {
		if o.DeduplicatePending != nil {
			p.DeduplicatePending = *o.DeduplicatePending
		}
		if o.RateLimit != nil {
			rl := *o.RateLimit
			p.RateLimit = &rl
		} else if o.ClearRateLimit {
			p.RateLimit = nil
		}
	}
	return p
}

// Chat is the chat section.
type Chat struct {
	LLM          string `json:"llm"` // default "default"
	SystemPrompt string `json:"system_prompt,omitempty"`
	// MaxMessageBytes bounds one chat message (0 = the default, 32 KiB).
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
}

// NATS is the nats section (Steward's addition).
type NATS struct {
	// URL joins an existing NATS server instead of embedding one.
	URL string `json:"url,omitempty"`
	// Listen is the embedded server's client address (default 127.0.0.1:4222;
	// empty string disables TCP clients).
	Listen string `json:"listen"`
	// StoreDir is the JetStream file store (default <data>/nats).
	StoreDir string `json:"store_dir"`
	// Credentials is the credentials file of URL connections: a NATS .creds
	// file or an nkey seed file (so no password needs to be in URL).
	Credentials string `json:"credentials,omitempty"`
	// CA is a PEM file of the certificate authorities that sign the NATS
	// server's TLS certificate (tls:// URLs of a self-signed deployment).
	CA string `json:"ca,omitempty"`
}

// Gateway is the gateway section (Steward's addition).
type Gateway struct {
	// Listen is host:port (default 127.0.0.1:6767).
	Listen string `json:"listen"`
	// Token, when set, is required as a bearer token on every request and allows
	// binding beyond loopback.
	Token Secret `json:"token"`
	// Hosts are the host names (optionally host:port) the gateway answers to
	// besides loopback addresses and localhost: a request whose Host header is
	// neither is refused (421), which defeats DNS rebinding. List the names you
	// open the gateway with when it listens beyond loopback (see SplitHostEntry).
	Hosts []string `json:"hosts,omitempty"`
	// TLSCert and TLSKey are PEM file paths; set both (or neither) to serve HTTPS.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
}

// Integration returns the integration with the composite id.
func (c *Config) Integration(id string) (*Integration, bool) {
	for i := range c.Integrations {
		if c.Integrations[i].ID() == id {
			return &c.Integrations[i], true
		}
	}
	return nil, false
}

// LLM returns the named LLM profile.
func (c *Config) LLM(name string) (*LLMProfile, bool) {
	for i := range c.LLMs {
		if c.LLMs[i].Name == name {
			return &c.LLMs[i], true
		}
	}
	return nil, false
}

// Script returns the named script.
func (c *Config) Script(name string) (*Script, bool) {
	for i := range c.Scripts {
		if c.Scripts[i].Name == name {
			return &c.Scripts[i], true
		}
	}
	return nil, false
}
