package config

import (
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Allowed keys per section, in the order they are listed in messages.
var (
	topKeys       = []string{"llms", "integrations", "directories", "scripts", "queue_policies", "chat", "nats", "gateway"}
	llmKeys       = []string{"base_url", "model", "token", "parameters", "concurrency", "timeout"}
	directoryKeys = []string{"notes", "logs", "data"}
	// obsoleteDirKeys are reference keys Steward accepts with a notice and
	// ignores, with the reason.
	obsoleteDirKeys = map[string]string{
		"task_queue":          "tasks live in the NATS JetStream stream TASKS",
		"chats":               "chat history lives in the NATS JetStream stream CHAT",
		"custom_integrations": "integrations are compiled into Steward, so no directory of custom integrations is loaded",
	}
	scriptKeys      = []string{"description", "inputs", "timeout", "shell", "output", "on_output", "reversible"}
	queueKeys       = []string{"retention", "defaults", "overrides"}
	policyKeys      = []string{"deduplicate_pending", "rate_limit"}
	rateLimitKeys   = []string{"max", "per"}
	chatKeys        = []string{"llm", "system_prompt", "max_message_bytes"}
	natsKeys        = []string{"url", "listen", "store_dir", "credentials", "ca"}
	gatewayKeys     = []string{"listen", "token", "hosts", "tls_cert", "tls_key"}
	scheduleKeys    = []string{"every", "cron"}
	automationKeys  = []string{"when", "then"}
	classifyKeys    = []string{"prompt", "type", "values"}
	integrationKeys = []string{"type", "name", "schedule", "llm"}
)

// Defaults of the reference format.
const (
	DefaultLLMBaseURL    = "http://localhost:11434"
	DefaultLLMProfile    = "default"
	DefaultLLMTimeout    = 10 * time.Minute
	DefaultScriptTimeout = 120 * time.Second
	DefaultRetention     = 7 * 24 * time.Hour
)

// namePattern is what profile and integration names may contain: they become NATS
// subject tokens (lane llm_<profile>), KV keys and directory names.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// document reads the top-level sections. It returns the overridable scalar keys
// as written in the file, for layering.
func (p *parser) document(root *yaml.Node, cfg *Config) map[string]fileScalar {
	file := map[string]fileScalar{}
	cfg.Chat.LLM = DefaultLLMProfile
	cfg.QueuePolicies = QueuePolicies{
		Retention:     DefaultRetention,
		RetentionText: "7d",
		Defaults:      TaskPolicy{DeduplicatePending: true},
	}
	cfg.LLMs = []LLMProfile{}
	cfg.Integrations = []Integration{}
	cfg.Scripts = []Script{}
	cfg.Warnings = []Warning{}
	cfg.Notices = []string{}

	top, ok := p.object(root, "", "a mapping of sections (llms:, integrations:, directories:, ...)")
	if !ok {
		return file
	}
	top.unknownSection(topKeys)

	p.directories(top, cfg, file)
	p.llms(top, cfg)
	p.checkLLMsPresent(top, cfg)
	p.scripts(top, cfg)
	p.integrations(top.get("integrations"), cfg)
	p.queuePolicies(top.get("queue_policies"), cfg)
	p.chat(top, cfg)
	p.nats(top.get("nats"), cfg, file)
	p.gateway(top.get("gateway"), cfg, file)
	return file
}

// scalarInto records an overridable key written in the file.
func (p *parser) scalarInto(o *obj, name, section string, file map[string]fileScalar) {
	n := o.get(name)
	if s, ok := p.text(n, o.key(name)); ok {
		file[section+"."+name] = fileScalar{value: s, node: deref(n)}
	}
}

func (p *parser) directories(top *obj, cfg *Config, file map[string]fileScalar) {
	o, ok := p.object(top.get("directories"), "directories", "a mapping (notes:, logs:, data:)")
	if !ok {
		return
	}
	var obsolete []string
	for _, pr := range o.pairs {
		if why, found := obsoleteDirKeys[pr.key]; found {
			p.noticeAt(pr.k, o.key(pr.key), "obsolete: %s; this key is ignored and can be removed", why)
			obsolete = append(obsolete, pr.key)
		}
	}
	o.unknownExcept(directoryKeys, obsolete, nil)
	for _, k := range directoryKeys {
		p.scalarInto(o, k, "directories", file)
	}
}

func (p *parser) llms(top *obj, cfg *Config) {
	o, ok := p.object(top.get("llms"), "llms", "a mapping of LLM profiles (default: {model: llama3.1:8b})")
	if !ok {
		return
	}
	for _, pr := range o.pairs {
		key := o.key(pr.key)
		if !namePattern.MatchString(pr.key) {
			p.errAt(pr.k, key, "profile names may only contain letters, digits, '_' and '-' (the name becomes the NATS lane llm_<name>)")
			continue
		}
		po, ok := p.object(pr.v, key, "an LLM profile mapping {model:, base_url:, ...}")
		if !ok {
			continue
		}
		po.unknown(llmKeys, nil)
		prof := LLMProfile{
			Name:        pr.key,
			BaseURL:     DefaultLLMBaseURL,
			Concurrency: 1,
			Timeout:     DefaultLLMTimeout,
			Pos:         p.pos(pr.k),
		}
		if s, ok := p.text(po.get("base_url"), po.key("base_url")); ok {
			prof.BaseURL = s
			p.checkBaseURL(po.get("base_url"), po.key("base_url"), s)
		}
		if s, ok := p.text(po.get("model"), po.key("model")); ok && strings.TrimSpace(s) != "" {
			prof.Model = s
		} else if ok || p.isNull(po.get("model")) {
			p.errAt(po.keyNode("model"), po.key("model"), "required: the model name the backend serves (e.g. model: llama3.1:8b)")
		}
		if n := po.get("token"); !p.isNull(n) {
			if s, ok := p.credential(n, po.key("token")); ok {
				prof.Token = p.secret(n, po.key("token"), s)
			}
		}
		if m, ok := p.mapping(po.get("parameters"), po.key("parameters"), "a mapping of request parameters (temperature: 0.2)"); ok {
			prof.Parameters = m
		}
		if po.has("concurrency") {
			if c, ok := p.integer(po.get("concurrency"), po.key("concurrency")); ok {
				if c < 1 {
					p.errAt(po.get("concurrency"), po.key("concurrency"), "must be at least 1 (the most requests in flight to this backend), got %d", c)
				} else {
					prof.Concurrency = c
				}
			}
		}
		if d, ok := p.positiveDuration(po.get("timeout"), po.key("timeout"), false); ok {
			prof.Timeout = d
		}
		cfg.LLMs = append(cfg.LLMs, prof)
	}
}

// credential reads a credential's text. Unlike text, its messages never show
// the value, even when it was (wrongly) written inline as a number.
func (p *parser) credential(n *yaml.Node, key string) (string, bool) {
	d := deref(n)
	if d.Kind == yaml.ScalarNode {
		if v, err := p.scalar(d); err == nil {
			if s, ok := p.asText(d, v); ok {
				return s, true
			}
			if isPlain(d) {
				return d.Value, true // a number or yes/no written inline is still the credential's text
			}
		}
	}
	p.errAt(d, key, "expected a credential as text; write !secret <name> and put the value in secrets.yaml")
	return "", false
}

// secret wraps a credential, remembering its secrets.yaml key, and warns when it
// was written inline in the config file.
func (p *parser) secret(n *yaml.Node, key, value string) Secret {
	d := deref(n)
	sk, fromSecrets := p.secretNodes[d]
	if !fromSecrets && value != "" {
		p.warnAt(d, key, "a credential is written inline in the config file; move it to secrets.yaml and write !secret <name> here")
	}
	return NewSecret(value, sk)
}

// checkBaseURL validates an LLM base URL and warns when it leaves the local network.
func (p *parser) checkBaseURL(n *yaml.Node, key, s string) {
	d := deref(n)
	_, secret := p.secretNodes[d]
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := quoteShort(MaskURL(s)) // a broken URL may still carry a password
		if secret {
			shown = p.describe(d)
		}
		p.errAt(d, key, "expected an http(s) URL such as %s, got %s", DefaultLLMBaseURL, shown)
		return
	}
	if !isLocalHost(u.Hostname()) {
		p.warnAt(d, key, "this LLM backend is not on this machine or your local network: the content of your mail and GitHub items will be sent to %s", u.Hostname())
	}
}

// isLocalHost reports loopback, private and link-local addresses and names that
// only resolve on a local network (single label, .local, .lan, .home.arpa).
func isLocalHost(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || !strings.Contains(h, ".") {
		return true
	}
	for _, suffix := range []string{".localhost", ".local", ".lan", ".home.arpa", ".internal"} {
		if strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}

// positiveDuration reads a duration > 0: a Go duration ("90s"), the reference
// grammar ("30m", "1d") or, when seconds is true or the value is a number, whole
// seconds.
func (p *parser) positiveDuration(n *yaml.Node, key string, secondsDefault bool) (time.Duration, bool) {
	if p.isNull(n) {
		return 0, false
	}
	d := deref(n)
	unit := "a duration such as 90s, 10m or 1h"
	if secondsDefault {
		unit = "seconds (e.g. 120) or a duration such as 5m"
	}
	if d.Kind == yaml.ScalarNode {
		v, err := p.scalar(d)
		if err == nil {
			var dur time.Duration
			good := false
			switch x := v.(type) {
			case int:
				if x > 0 && x <= 1<<31 {
					dur, good = time.Duration(x)*time.Second, true
				}
			case float64:
				if x > 0 && x <= 1<<31 {
					dur, good = time.Duration(x*float64(time.Second)), true
				}
			case string:
				dur, good = parseFlexibleDuration(x)
			}
			if good && dur > 0 {
				return dur, true
			}
		}
	}
	p.errAt(d, key, "expected %s greater than zero, got %s", unit, p.describe(d))
	return 0, false
}

// shellVarRE matches a bash variable name (a script's output:).
var shellVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *parser) scripts(top *obj, cfg *Config) {
	o, ok := p.object(top.get("scripts"), "scripts", "a mapping of script names to definitions (name: {shell: ...})")
	if !ok {
		return
	}
	for _, pr := range o.pairs {
		key := o.key(pr.key)
		if strings.TrimSpace(pr.key) == "" {
			p.errAt(pr.k, key, "a script needs a name")
			continue
		}
		so, ok := p.object(pr.v, key, "a script definition {shell: ..., description: ...}")
		if !ok {
			continue
		}
		so.unknown(scriptKeys, nil)
		s := Script{Name: pr.key, Inputs: []string{}, Timeout: DefaultScriptTimeout, OnOutput: "human_log", Pos: p.pos(pr.k)}
		if v, ok := p.text(so.get("description"), so.key("description")); ok {
			s.Description = v
		}
		if v, ok := p.texts(so.get("inputs"), so.key("inputs")); ok {
			s.Inputs = v
		}
		if d, ok := p.positiveDuration(so.get("timeout"), so.key("timeout"), true); ok {
			s.Timeout = d
		}
		if v, ok := p.text(so.get("shell"), so.key("shell")); ok && strings.TrimSpace(v) != "" {
			s.Shell = v
		} else if ok || p.isNull(so.get("shell")) {
			p.errAt(so.keyNode("shell"), so.key("shell"), "required: the bash source the script runs")
		}
		if v, ok := p.text(so.get("output"), so.key("output")); ok {
			// The name is pasted into the capture line the runner appends
			// to the script, so only a shell variable name is accepted.
			if shellVarRE.MatchString(v) {
				s.Output = v
			} else {
				p.errAt(so.get("output"), so.key("output"), "expected the name of a shell variable (letters, digits, _; not starting with a digit), got %q", v)
			}
		}
		if v, ok := p.text(so.get("on_output"), so.key("on_output")); ok {
			s.OnOutput = v
		}
		if v, ok := p.boolean(so.get("reversible"), so.key("reversible")); ok {
			s.Reversible = v
		}
		cfg.Scripts = append(cfg.Scripts, s)
	}
}

func (p *parser) queuePolicies(n *yaml.Node, cfg *Config) {
	o, ok := p.object(n, "queue_policies", "a mapping (retention:, defaults:, overrides:)")
	if !ok {
		return
	}
	o.unknown(queueKeys, nil)
	q := &cfg.QueuePolicies
	if rn := o.get("retention"); !p.isNull(rn) {
		d := deref(rn)
		text, shown := "", ""
		if d.Kind == yaml.ScalarNode {
			text, shown = d.Value, d.Value
			if _, secret := p.secretNodes[d]; secret {
				shown = "(from !secret)"
			}
		} else {
			shown = "(" + p.describe(d) + ")"
		}
		if dur, good := parseIntervalDuration(text); good && d.Kind == yaml.ScalarNode {
			q.Retention, q.RetentionText = dur, text
		} else {
			p.errAt(d, o.key("retention"), "Invalid retention format: '%s' (expected e.g. '30m', '1h', '7d')", shown)
		}
	}
	if dn := o.get("defaults"); !p.isNull(dn) {
		dedup, rl, _ := p.taskPolicy(dn, o.key("defaults"))
		if dedup != nil {
			q.Defaults.DeduplicatePending = *dedup
		}
		q.Defaults.RateLimit = rl
	}
	oo, ok := p.object(o.get("overrides"), o.key("overrides"), "a mapping of task types to policies (service.gemini.web_research: {rate_limit: {max: 10, per: 1h}})")
	if !ok {
		return
	}
	known := p.knownTaskTypes()
	for _, pr := range oo.pairs {
		key := oo.key(pr.key)
		dedup, rl, clear := p.taskPolicy(pr.v, key)
		if q.Overrides == nil {
			q.Overrides = map[string]PolicyOverride{}
		}
		q.Overrides[pr.key] = PolicyOverride{DeduplicatePending: dedup, RateLimit: rl, ClearRateLimit: clear}
		if known != nil && !known[pr.key] {
			p.warnAt(pr.k, key, "no task type of this name exists (e.g. email.inbox.check, service.gemini.web_research, script.run): this override never applies")
		}
	}
}

// knownTaskTypes lists every task type Steward can run with the registry's
// integrations; nil when there is no registry.
func (p *parser) knownTaskTypes() map[string]bool {
	if p.reg == nil {
		return nil
	}
	known := map[string]bool{"script.run": true, "chat.message": true}
	for _, t := range p.reg.Types() {
		m, _ := p.reg.Get(t)
		for _, pl := range m.Platforms {
			known[pl.EntryTaskType(m.Type)] = true
			for _, st := range pl.Stages {
				known[m.Type+"."+pl.Name+"."+st] = true
			}
		}
		for _, s := range m.Services {
			known["service."+m.Type+"."+s.Name] = true
		}
	}
	return known
}

// taskPolicy reads a (partial) task policy. clear reports an explicit
// `rate_limit: null`, which in an override removes the defaults' rate limit.
func (p *parser) taskPolicy(n *yaml.Node, key string) (dedup *bool, rl *RateLimit, clear bool) {
	o, ok := p.object(n, key, "a task policy (deduplicate_pending:, rate_limit: {max:, per:})")
	if !ok {
		return nil, nil, false
	}
	o.unknown(policyKeys, nil)
	if b, ok := p.boolean(o.get("deduplicate_pending"), o.key("deduplicate_pending")); ok {
		dedup = &b
	}
	if o.has("rate_limit") {
		rn := o.get("rate_limit")
		if p.isNull(rn) {
			return dedup, nil, true
		}
		rl = p.rateLimit(rn, o.key("rate_limit"))
	}
	return dedup, rl, false
}

func (p *parser) rateLimit(n *yaml.Node, key string) *RateLimit {
	o, ok := p.object(n, key, "a rate limit {max: 10, per: 1h}")
	if !ok {
		return nil
	}
	o.unknown(rateLimitKeys, nil)
	rl := &RateLimit{}
	good := true
	if m, ok := p.integer(o.get("max"), o.key("max")); ok {
		if m < 1 {
			p.errAt(o.get("max"), o.key("max"), "must be at least 1 (the most tasks of this type per period), got %d", m)
			good = false
		}
		rl.Max = m
	} else {
		if p.isNull(o.get("max")) {
			p.errAt(o.keyNode("max"), o.key("max"), "required: the most tasks of this type per period (e.g. max: 10)")
		}
		good = false
	}
	if s, ok := p.text(o.get("per"), o.key("per")); ok {
		d, err := ParseDuration(s)
		switch {
		case err != nil:
			shown := s
			if _, secret := p.secretNodes[deref(o.get("per"))]; secret {
				shown = "(from !secret)"
			}
			p.errAt(o.get("per"), o.key("per"), "Invalid duration format: '%s' (expected e.g. '30m', '1h', '1d')", shown)
			good = false
		case d <= 0:
			p.errAt(o.get("per"), o.key("per"), "the period must be longer than zero (e.g. 1h)")
			good = false
		}
		rl.Per, rl.PerText = d, s
	} else {
		if p.isNull(o.get("per")) {
			p.errAt(o.keyNode("per"), o.key("per"), "required: the period (e.g. per: 1h; units m, h, d)")
		}
		good = false
	}
	if !good {
		return nil
	}
	return rl
}

func (p *parser) chat(top *obj, cfg *Config) {
	o, ok := p.object(top.get("chat"), "chat", "a mapping (llm:, system_prompt:)")
	if !ok {
		return
	}
	o.unknown(chatKeys, nil)
	if s, ok := p.text(o.get("llm"), o.key("llm")); ok {
		cfg.Chat.LLM = s
	}
	if s, ok := p.text(o.get("system_prompt"), o.key("system_prompt")); ok {
		cfg.Chat.SystemPrompt = s
	}
	if o.has("max_message_bytes") {
		if n, ok := p.integer(o.get("max_message_bytes"), o.key("max_message_bytes")); ok {
			if n < 1 || n > 1<<20 {
				p.errAt(o.get("max_message_bytes"), o.key("max_message_bytes"), "must be between 1 and 1048576 (bytes of one chat message), got %d", n)
			} else {
				cfg.Chat.MaxMessageBytes = n
			}
		}
	}
	if len(cfg.LLMs) > 0 {
		if _, found := cfg.LLM(cfg.Chat.LLM); !found {
			n := o.get("llm")
			if n == nil {
				n = top.keyNode("chat")
			}
			p.warnAt(n, "chat.llm", "Chat LLM profile '%s' not found in llms. Available: %s", cfg.Chat.LLM, pyList(profileNames(cfg)))
		}
	}
}

func profileNames(cfg *Config) []string {
	out := make([]string, len(cfg.LLMs))
	for i, l := range cfg.LLMs {
		out[i] = l.Name
	}
	return out
}

func (p *parser) nats(n *yaml.Node, cfg *Config, file map[string]fileScalar) {
	o, ok := p.object(n, "nats", "a mapping (url:, listen:, store_dir:, credentials:, ca:)")
	if !ok {
		return
	}
	o.unknown(natsKeys, nil)
	// credentials is a file path, so flags (--nats-creds) and
	// STEWARD_NATS_CREDENTIALS may set it like the other nats keys.
	for _, k := range []string{"url", "listen", "store_dir", "credentials", "ca"} {
		p.scalarInto(o, k, "nats", file)
	}
}

func (p *parser) gateway(n *yaml.Node, cfg *Config, file map[string]fileScalar) {
	o, ok := p.object(n, "gateway", "a mapping (listen:, token:, hosts:, tls_cert:, tls_key:)")
	if !ok {
		return
	}
	o.unknown(gatewayKeys, nil)
	p.scalarInto(o, "listen", "gateway", file)
	if tn := o.get("token"); !p.isNull(tn) {
		if s, ok := p.credential(tn, o.key("token")); ok {
			p.secret(tn, o.key("token"), s) // only for the inline warning; layer builds the Secret
			file["gateway.token"] = fileScalar{value: s, node: deref(tn)}
		}
	}
	p.gatewayHosts(o, cfg)
	p.gatewayTLS(o, cfg)
}

// checkLLMsPresent warns when no profile is configured: unlike the reference,
// a missing llms section is not fatal, Steward starts without an LLM.
func (p *parser) checkLLMsPresent(top *obj, cfg *Config) {
	if len(cfg.LLMs) > 0 {
		return
	}
	p.warnAt(top.keyNode("llms"), "llms", "no LLM profile is configured: items are not classified and chat is off until you add one, e.g. llms: {%s: {model: llama3.1:8b}}", DefaultLLMProfile)
}

func (o *obj) unknownExcept(allowed, skip []string, hint func(string) string) {
	keep := o.pairs[:0:0]
	for _, pr := range o.pairs {
		if !contains(skip, pr.key) {
			keep = append(keep, pr)
		}
	}
	saved := o.pairs
	o.pairs = keep
	o.unknown(allowed, hint)
	o.pairs = saved
}
