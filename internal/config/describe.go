package config

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Masked renders the normalised configuration (defaults filled in, shorthand
// expanded, schedules resolved) as YAML in the config file's own format, with
// every credential masked: Secret values print as `!secret <key>` (or ********
// when written inline or taken from the environment), and any other value that
// came from secrets.yaml is replaced the same way wherever it appears.
func (c *Config) Masked() ([]byte, error) {
	root := c.maskedNode()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Describe writes a human summary of the configuration (sources, integrations,
// warnings, notices) followed by Masked; used by `steward config check`. It never
// writes a secret.
func (c *Config) Describe(w io.Writer) error {
	var b strings.Builder
	src := c.Source
	if src == "" {
		src = "(no config file: defaults)"
	}
	fmt.Fprintf(&b, "Configuration: %s\n", src)
	if len(c.LLMs) == 0 {
		b.WriteString("LLM profiles: none\n")
	} else {
		b.WriteString("LLM profiles:\n")
		for _, l := range c.LLMs {
			fmt.Fprintf(&b, "  %s: %s at %s (concurrency %d, timeout %s, lane llm_%s)\n",
				l.Name, c.maskText(l.Model), c.maskText(l.BaseURL), l.Concurrency, formatDuration(l.Timeout), l.Name)
		}
	}
	if len(c.Integrations) == 0 {
		b.WriteString("Integrations: none\n")
	} else {
		b.WriteString("Integrations:\n")
		for _, in := range c.Integrations {
			var parts []string
			if len(in.Platforms) > 0 {
				names := make([]string, len(in.Platforms))
				auto := 0
				for i, pl := range in.Platforms {
					names[i] = pl.Name
					auto += len(pl.Automations)
				}
				parts = append(parts, "platforms "+strings.Join(names, ", "), fmt.Sprintf("%d automations", auto), "llm "+in.LLM)
			} else {
				parts = append(parts, "no platforms")
			}
			if in.Schedule != nil && in.Schedule.Expr != "" {
				parts = append(parts, fmt.Sprintf("schedule %q", in.Schedule.Expr))
			} else if len(in.Platforms) > 0 {
				parts = append(parts, "not scheduled (manual runs only)")
			}
			fmt.Fprintf(&b, "  %s: %s\n", in.ID(), strings.Join(parts, "; "))
		}
	}
	if len(c.Scripts) > 0 {
		names := make([]string, len(c.Scripts))
		for i, s := range c.Scripts {
			names[i] = s.Name
		}
		fmt.Fprintf(&b, "Scripts: %s\n", strings.Join(names, ", "))
	}
	nats := "embedded, listening on " + c.NATS.Listen
	if c.NATS.Listen == "" {
		nats = "embedded, no TCP clients"
	}
	if c.NATS.URL != "" {
		nats = "joins " + c.maskText(c.NATS.URL)
	}
	fmt.Fprintf(&b, "NATS: %s (store %s)\n", nats, c.NATS.StoreDir)
	tok := "no token"
	if !c.Gateway.Token.IsZero() {
		tok = "token set"
	}
	gw := []string{tok}
	if c.Gateway.TLSCert != "" {
		gw = append(gw, "HTTPS")
	}
	if len(c.Gateway.Hosts) > 0 {
		gw = append(gw, "also answers to "+strings.Join(c.Gateway.Hosts, ", "))
	}
	fmt.Fprintf(&b, "Gateway: %s (%s)\n", c.Gateway.Listen, strings.Join(gw, "; "))
	if len(c.Warnings) > 0 {
		fmt.Fprintf(&b, "Warnings (%d):\n", len(c.Warnings))
		for _, w := range c.Warnings {
			b.WriteString("  " + c.maskText(w.String()) + "\n")
		}
	}
	if len(c.Notices) > 0 {
		fmt.Fprintf(&b, "Notices (%d):\n", len(c.Notices))
		for _, n := range c.Notices {
			b.WriteString("  " + c.maskText(n) + "\n")
		}
	}
	masked, err := c.Masked()
	if err != nil {
		return err
	}
	b.WriteString("\n# normalised configuration (secrets masked)\n")
	b.Write(masked)
	_, err = io.WriteString(w, b.String())
	return err
}

// maskText hides a text that came from secrets.yaml, secrets.yaml values
// inside it and credentials written inside URLs (see maskValue).
func (c *Config) maskText(s string) string { return c.maskValue(s) }

// --- node building

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func seqNode() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"} }

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	if v == nil {
		return
	}
	m.Content = append(m.Content, strNode(key), v)
}

// valNode encodes any value; Secret values mask themselves through MarshalYAML.
func valNode(v any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return strNode(fmt.Sprint(v))
	}
	return &n
}

func (c *Config) maskedNode() *yaml.Node {
	root := mapNode()
	if c.Source != "" {
		root.HeadComment = "normalised from " + c.Source + "; secrets masked"
	}

	llms := mapNode()
	for _, l := range c.LLMs {
		m := mapNode()
		add(m, "base_url", strNode(l.BaseURL))
		add(m, "model", strNode(l.Model))
		if !l.Token.IsZero() {
			add(m, "token", valNode(l.Token))
		}
		if len(l.Parameters) > 0 {
			add(m, "parameters", valNode(l.Parameters))
		}
		add(m, "concurrency", valNode(l.Concurrency))
		add(m, "timeout", strNode(formatDuration(l.Timeout)))
		add(llms, l.Name, m)
	}
	add(root, "llms", llms)

	ints := seqNode()
	for _, in := range c.Integrations {
		m := mapNode()
		add(m, "type", strNode(in.Type))
		add(m, "name", strNode(in.Name))
		add(m, "llm", strNode(in.LLM))
		if in.Schedule != nil {
			s := mapNode()
			if in.Schedule.Every != "" {
				add(s, "every", strNode(in.Schedule.Every))
			}
			if in.Schedule.Cron != "" {
				add(s, "cron", strNode(in.Schedule.Cron))
			}
			if in.Schedule.Cron == "" && in.Schedule.Expr != "" {
				s.Content[len(s.Content)-1].LineComment = scheduleComment(in.Schedule.Expr)
			}
			add(m, "schedule", s)
		}
		addFields(m, in.Fields)
		if in.HasPlatforms {
			pls := mapNode()
			for _, pl := range in.Platforms {
				add(pls, pl.Name, platformNode(pl))
			}
			add(m, "platforms", pls)
		}
		ints.Content = append(ints.Content, m)
	}
	add(root, "integrations", ints)

	dirs := mapNode()
	if c.Directories.Notes != "" {
		add(dirs, "notes", strNode(c.Directories.Notes))
	}
	add(dirs, "logs", strNode(c.Directories.Logs))
	add(dirs, "data", strNode(c.Directories.Data))
	add(root, "directories", dirs)

	scripts := mapNode()
	for _, s := range c.Scripts {
		m := mapNode()
		add(m, "description", strNode(s.Description))
		add(m, "inputs", valNode(s.Inputs))
		add(m, "timeout", valNode(int64(s.Timeout.Seconds())))
		add(m, "shell", strNode(s.Shell))
		if s.Output != "" {
			add(m, "output", strNode(s.Output))
		}
		add(m, "on_output", strNode(s.OnOutput))
		add(m, "reversible", valNode(s.Reversible))
		add(scripts, s.Name, m)
	}
	add(root, "scripts", scripts)

	q := mapNode()
	add(q, "retention", strNode(c.QueuePolicies.RetentionText))
	add(q, "defaults", policyNode(&c.QueuePolicies.Defaults.DeduplicatePending, c.QueuePolicies.Defaults.RateLimit, false))
	if len(c.QueuePolicies.Overrides) > 0 {
		ov := mapNode()
		keys := make([]string, 0, len(c.QueuePolicies.Overrides))
		for k := range c.QueuePolicies.Overrides {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			o := c.QueuePolicies.Overrides[k]
			add(ov, k, policyNode(o.DeduplicatePending, o.RateLimit, o.ClearRateLimit))
			ov.Content[len(ov.Content)-2].HeadComment = "effective: " + describePolicy(c.QueuePolicies.Policy(k))
		}
		add(q, "overrides", ov)
	}
	add(root, "queue_policies", q)

	chat := mapNode()
	add(chat, "llm", strNode(c.Chat.LLM))
	if c.Chat.SystemPrompt != "" {
		add(chat, "system_prompt", strNode(c.Chat.SystemPrompt))
	}
	if c.Chat.MaxMessageBytes > 0 {
		add(chat, "max_message_bytes", valNode(c.Chat.MaxMessageBytes))
	}
	add(root, "chat", chat)

	nats := mapNode()
	if c.NATS.URL != "" {
		add(nats, "url", strNode(c.NATS.URL))
	}
	add(nats, "listen", strNode(c.NATS.Listen))
	add(nats, "store_dir", strNode(c.NATS.StoreDir))
	if c.NATS.Credentials != "" {
		add(nats, "credentials", strNode(c.NATS.Credentials))
	}
	if c.NATS.CA != "" {
		add(nats, "ca", strNode(c.NATS.CA))
	}
	add(root, "nats", nats)

	gw := mapNode()
	add(gw, "listen", strNode(c.Gateway.Listen))
	if !c.Gateway.Token.IsZero() {
		add(gw, "token", valNode(c.Gateway.Token))
	}
	if len(c.Gateway.Hosts) > 0 {
		hosts := seqNode()
		for _, h := range c.Gateway.Hosts {
			hosts.Content = append(hosts.Content, strNode(h))
		}
		add(gw, "hosts", hosts)
	}
	if c.Gateway.TLSCert != "" {
		add(gw, "tls_cert", strNode(c.Gateway.TLSCert))
		add(gw, "tls_key", strNode(c.Gateway.TLSKey))
	}
	add(root, "gateway", gw)

	c.maskNode(root, false)
	return root
}

// scheduleComment says how an every: interval runs: on the clock (a cron
// expression) or at an exact interval not tied to the clock.
func scheduleComment(expr string) string {
	if rest, ok := strings.CutPrefix(expr, everyPrefix); ok {
		return "exactly every " + rest + ", counted from midnight UTC (" + expr + ")"
	}
	return "cron: " + expr
}

func addFields(m *yaml.Node, fields map[string]any) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(m, k, valNode(fields[k]))
	}
}

func platformNode(pl Platform) *yaml.Node {
	m := mapNode()
	addFields(m, pl.Fields)
	if len(pl.Classifications) > 0 {
		cls := mapNode()
		for _, c := range pl.Classifications {
			cn := mapNode()
			add(cn, "prompt", strNode(c.Prompt))
			add(cn, "type", strNode(string(c.Type)))
			if len(c.Values) > 0 {
				add(cn, "values", valNode(c.Values))
			}
			add(cls, c.Name, cn)
		}
		add(m, "classifications", cls)
	}
	if len(pl.Automations) > 0 {
		autos := seqNode()
		for _, a := range pl.Automations {
			an := mapNode()
			when := mapNode()
			when.Style = yaml.FlowStyle
			for _, c := range a.When {
				add(when, c.Key, valNode(c.Value))
			}
			add(an, "when", when)
			then := seqNode()
			for _, act := range a.Then {
				then.Content = append(then.Content, actionNode(act))
			}
			add(an, "then", then)
			autos.Content = append(autos.Content, an)
		}
		add(m, "automations", autos)
	}
	return m
}

func actionNode(a Action) *yaml.Node {
	var n *yaml.Node
	switch a.Kind {
	case ActionSimple:
		n = strNode(a.Name)
	case ActionDict:
		n = mapNode()
		for _, k := range a.Keys() {
			add(n, k, valNode(a.Data[k]))
		}
	case ActionScript:
		n = mapNode()
		if a.Script == nil {
			break
		}
		if len(a.Script.Inputs) == 0 {
			add(n, "script", strNode(a.Script.Name))
		} else {
			s := mapNode()
			add(s, "name", strNode(a.Script.Name))
			add(s, "inputs", valNode(a.Script.Inputs))
			add(n, "script", s)
		}
	case ActionService:
		n = mapNode()
		if a.Service == nil {
			break
		}
		s := mapNode()
		add(s, "call", strNode(a.Service.Call))
		if len(a.Service.Inputs) > 0 {
			add(s, "inputs", valNode(a.Service.Inputs))
		}
		if len(a.Service.OnResult) > 0 {
			add(s, "on_result", valNode(a.Service.OnResult))
		}
		if a.Service.HumanLog != "" {
			add(s, "human_log", strNode(a.Service.HumanLog))
		}
		add(n, "service", s)
	default:
		n = strNode(a.Name)
	}
	if a.Yolo {
		n.Tag = "!yolo"
	}
	return n
}

func policyNode(dedup *bool, rl *RateLimit, clear bool) *yaml.Node {
	m := mapNode()
	if dedup != nil {
		add(m, "deduplicate_pending", valNode(*dedup))
	}
	if rl != nil {
		r := mapNode()
		r.Style = yaml.FlowStyle
		add(r, "max", valNode(rl.Max))
		add(r, "per", strNode(rl.PerText))
		add(m, "rate_limit", r)
	} else if clear {
		add(m, "rate_limit", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"})
	}
	return m
}

func describePolicy(p TaskPolicy) string {
	s := fmt.Sprintf("deduplicate_pending %v", p.DeduplicatePending)
	if p.RateLimit != nil {
		s += fmt.Sprintf(", at most %d per %s", p.RateLimit.Max, p.RateLimit.PerText)
	} else {
		s += ", no rate limit"
	}
	return s
}

// maskNode replaces every scalar value that came from secrets.yaml with
// `!secret <key>`, and turns masked Secret strings ("!secret key") back into the
// tag form.
func (c *Config) maskNode(n *yaml.Node, isKey bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.maskNode(n.Content[i], true)
			c.maskNode(n.Content[i+1], false)
		}
		return
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, ch := range n.Content {
			c.maskNode(ch, false)
		}
		return
	case yaml.ScalarNode:
	default:
		return
	}
	if key, ok := c.masks[n.Value]; ok && n.Value != "" && (!isKey || n.Tag == "!!str") {
		n.Tag, n.Value, n.Style = "!secret", key, 0
		return
	}
	if isKey {
		return
	}
	if rest, ok := strings.CutPrefix(n.Value, "!secret "); ok && n.Tag == "!!str" && rest != "" && !strings.ContainsAny(rest, " \n") {
		n.Tag, n.Value, n.Style = "!secret", rest, 0
		return
	}
	// Credentials inside a longer value: a URL's password or api_key, a
	// secrets.yaml value quoted in a prompt or parameter.
	if n.Tag == "!!str" || n.Tag == "" {
		n.Value = c.maskValue(n.Value)
	}
}
