package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/manifest"
)

// expansionBudget bounds how many values one document may expand to through
// aliases and merge keys (a "billion laughs" document stops here, not in RAM).
const expansionBudget = 200_000

// parser walks one config document at the yaml.Node level, collecting every
// error and warning with its position.
type parser struct {
	file        string
	secretsFile string
	secrets     map[string]string
	reg         *manifest.Registry

	// noSecretsFile is set when there is no secrets file at all (secrets nil):
	// a !secret then says so instead of listing no available keys.
	noSecretsFile  bool
	missingSecrets []string // keys named by !secret that could not be resolved, in file order

	secretNodes map[*yaml.Node]string // node → secrets.yaml key it was resolved from
	yoloNodes   map[*yaml.Node]string // nodes tagged !yolo → their dotted key
	yoloUsed    map[*yaml.Node]bool   // !yolo nodes that were read as actions
	usedSecrets map[string]string     // resolved secret value → key (for masking)

	budget    int
	budgetHit bool
	active    map[*yaml.Node]bool // mappings and lists being expanded (cycle guard)

	errs     Errors
	warnings []Warning
	notices  []string
}

func newParser(file, secretsFile string, secrets map[string]string, reg *manifest.Registry) *parser {
	return &parser{
		file:          file,
		secretsFile:   secretsFile,
		secrets:       secrets,
		noSecretsFile: secrets == nil,
		reg:           reg,
		secretNodes:   map[*yaml.Node]string{},
		yoloNodes:     map[*yaml.Node]string{},
		yoloUsed:      map[*yaml.Node]bool{},
		usedSecrets:   map[string]string{},
		budget:        expansionBudget,
		active:        map[*yaml.Node]bool{},
	}
}

func (p *parser) line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func (p *parser) errAt(n *yaml.Node, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.line(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnAt(n *yaml.Node, key, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{
		Position: Position{File: p.file, Line: p.line(n)},
		Key:      key,
		Message:  fmt.Sprintf(format, args...),
	})
}

func (p *parser) noticeAt(n *yaml.Node, key, format string, args ...any) {
	p.notices = append(p.notices, formatLocated(p.file, p.line(n), key, fmt.Sprintf(format, args...)))
}

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.file, Line: p.line(n)}
}

// spend takes one unit of the alias expansion budget.
func (p *parser) spend(n *yaml.Node) bool {
	p.budget--
	if p.budget >= 0 {
		return true
	}
	if !p.budgetHit {
		p.budgetHit = true
		p.errAt(n, "", "the document expands to more than %d values through aliases (&anchor/*alias); write the values out instead", expansionBudget)
	}
	return false
}

// enter guards against an alias that refers to a value containing it
// (&a {x: *a}), which would otherwise expand forever.
func (p *parser) enter(n *yaml.Node, path string) bool {
	if p.active[n] {
		p.errAt(n, path, "an alias (*name) refers to a value that contains it; this cannot be expanded")
		return false
	}
	p.active[n] = true
	return true
}

func (p *parser) leave(n *yaml.Node) { delete(p.active, n) }

// joinKey builds dotted keys: "a" + "b" → "a.b".
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexKey(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document. It returns nil for an empty
// document. Parser failures (even panics inside the YAML library) become errors.
func parseYAML(data []byte, file string) (root *yaml.Node, errs Errors) {
	defer func() {
		if r := recover(); r != nil {
			root, errs = nil, Errors{{File: file, Msg: "the YAML parser failed on this file; check its syntax"}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Errors{yamlError(err, file)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Errors{yamlError(err, file)}
	default:
		return nil, Errors{{File: file, Line: extra.Line, Msg: "only one YAML document is allowed per file (remove the second '---')"}}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

func yamlError(err error, file string) *Error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// standardTags are the YAML core tags a user may write explicitly (!!str ...).
var standardTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!binary": true, "!!map": true, "!!seq": true,
	"!!omap": true, "!!set": true, "!!merge": true,
}

// resolveTags is the first pass over the document: it resolves !secret in place
// (the node becomes a quoted string holding the value, remembered in secretNodes),
// records !yolo nodes (rejecting !yolo on a list), and rejects unknown tags.
func (p *parser) resolveTags(n *yaml.Node, path string, isKey bool, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p.resolveTags(k, path, true, seen)
			key := "?"
			if dk := deref(k); dk != nil && dk.Kind == yaml.ScalarNode {
				key = dk.Value
				if _, secret := p.secretNodes[dk]; secret {
					key = "?"
				}
			}
			p.resolveTags(n.Content[i+1], joinKey(path, key), false, seen)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.resolveTags(c, indexKey(path, i), false, seen)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.resolveTags(c, path, false, seen)
		}
	}
	if n.Style&yaml.TaggedStyle == 0 {
		return
	}
	switch n.Tag {
	case "!secret":
		n.Style &^= yaml.TaggedStyle
		switch {
		case n.Kind != yaml.ScalarNode:
			p.errAt(n, path, "!secret takes the name of a key in secrets.yaml (e.g. password: !secret imap_password), not a mapping or list")
			n.Tag = defaultTag(n)
		case isKey:
			p.errAt(n, path, "!secret cannot be used on a key, only on a value")
			n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		default:
			p.resolveSecret(n, path)
		}
	case "!yolo":
		n.Style &^= yaml.TaggedStyle
		n.Tag = defaultTag(n)
		if n.Kind == yaml.SequenceNode {
			p.errAt(n, path, "!yolo tags one action (a name or a mapping), not a list: write !yolo before each action that may run from an LLM-influenced rule")
			return
		}
		if n.Kind == yaml.ScalarNode {
			// The reference wraps a !yolo scalar as a string (!yolo 5 → "5").
			n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		}
		p.yoloNodes[n] = path
	default:
		if !standardTags[n.Tag] {
			p.errAt(n, path, "unknown tag %s (allowed: !secret, !yolo)", quoteShort(n.Tag))
			n.Style &^= yaml.TaggedStyle
			n.Tag = defaultTag(n)
		}
	}
}

func defaultTag(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "!!map"
	case yaml.SequenceNode:
		return "!!seq"
	}
	return "!!str"
}

func (p *parser) resolveSecret(n *yaml.Node, path string) {
	key := strings.TrimSpace(n.Value)
	n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
	if key == "" {
		p.errAt(n, path, "!secret needs the name of a key in secrets.yaml, e.g. !secret imap_password")
		n.Value = ""
		p.secretNodes[n] = ""
		return
	}
	val, ok := p.secrets[key]
	switch {
	case !ok && p.noSecretsFile:
		p.errAt(n, path, "Secret '%s' not found: the secrets file %s does not exist", key, p.secretsFile)
	case !ok:
		names := make([]string, 0, len(p.secrets))
		for k := range p.secrets {
			names = append(names, k)
		}
		sort.Strings(names)
		p.errAt(n, path, "Secret '%s' not found in %s. Available secrets: %s", key, p.secretsFile, pyList(names))
	}
	if !ok {
		val = ""
		if !contains(p.missingSecrets, key) {
			p.missingSecrets = append(p.missingSecrets, key)
		}
	}
	n.Value = val
	p.secretNodes[n] = key
	if val != "" {
		p.usedSecrets[val] = key
	}
}

// reportMissingSecretsFile adds one error, on the secrets file itself, when the
// config names secrets but there is no secrets file: it says how to create one.
func (p *parser) reportMissingSecretsFile() {
	if !p.noSecretsFile || len(p.missingSecrets) == 0 {
		return
	}
	name := filepath.Base(p.secretsFile)
	p.errs = append(p.errs, &Error{File: p.secretsFile, Msg: fmt.Sprintf(
		"the secrets file does not exist, but %s uses !secret %s: create it "+
			"(cp secrets.example.yaml %s; chmod 600 %s) and give each of those keys its value",
		p.configName(), strings.Join(p.missingSecrets, ", "), name, name)})
}

// configName names the config file in a message.
func (p *parser) configName() string {
	if p.file == "" {
		return "the config"
	}
	return p.file
}

// yaml11Bools are the plain scalars the reference (YAML 1.1) reads as booleans;
// matched case-insensitively.
var yaml11Bools = map[string]bool{
	"y": true, "yes": true, "on": true, "true": true,
	"n": false, "no": false, "off": false, "false": false,
}

// pyYAMLBools are the exact spellings PyYAML (the reference) reads as booleans.
// Other words that Steward reads as booleans (y, n, yEs) were text to the
// reference, so where text is expected they are still accepted as text.
var pyYAMLBools = map[string]bool{
	"yes": true, "Yes": true, "YES": true, "no": true, "No": true, "NO": true,
	"true": true, "True": true, "TRUE": true, "false": true, "False": true, "FALSE": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

// asText returns a scalar's text when the reference would have read it as text:
// strings, unquoted dates, and plain words such as y/n that only Steward reads
// as booleans.
func (p *parser) asText(d *yaml.Node, v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case time.Time:
		return d.Value, true
	case bool:
		if isPlain(d) && !pyYAMLBools[d.Value] && d.Tag != "!!bool" {
			return d.Value, true
		}
	}
	return "", false
}

// isPlain reports an untagged, unquoted scalar.
func isPlain(n *yaml.Node) bool {
	return n.Style&(yaml.TaggedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0
}

// isNull reports an absent value or a YAML null (`key:`, `~`, `null`).
func (p *parser) isNull(n *yaml.Node) bool {
	n = deref(n)
	if n == nil {
		return true
	}
	if n.Kind != yaml.ScalarNode {
		return false
	}
	if _, secret := p.secretNodes[n]; secret {
		return false
	}
	return n.Tag == "!!null" && (isPlain(n) || n.Style&yaml.TaggedStyle != 0)
}

// scalar returns the Go value of a scalar node with Steward's YAML 1.1-compatible
// resolution: nil, bool, int, float64, string or time.Time.
func (p *parser) scalar(n *yaml.Node) (v any, err error) {
	if _, secret := p.secretNodes[n]; secret {
		return n.Value, nil
	}
	if n.Style&yaml.TaggedStyle != 0 {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("cannot read this value as %s", n.Tag)
			}
		}()
		if n.Tag == "!!timestamp" {
			var t time.Time
			if err := n.Decode(&t); err != nil {
				return nil, fmt.Errorf("cannot read this value as a !!timestamp")
			}
			return t, nil
		}
		var out any
		if err := n.Decode(&out); err != nil {
			return nil, fmt.Errorf("cannot read this value as %s", n.Tag)
		}
		return normaliseNumber(out), nil
	}
	if !isPlain(n) {
		return n.Value, nil
	}
	if b, ok := yaml11Bools[strings.ToLower(n.Value)]; ok {
		return b, nil
	}
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!int", "!!float":
		var out any
		if err := n.Decode(&out); err != nil {
			return n.Value, nil
		}
		return normaliseNumber(out), nil
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			return n.Value, nil
		}
		return t, nil
	}
	return n.Value, nil
}

func normaliseNumber(v any) any {
	switch x := v.(type) {
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x)
		}
		return float64(x)
	case uint64:
		if x <= math.MaxInt {
			return int(x)
		}
		return float64(x)
	case uint:
		return float64(x)
	case []byte:
		return string(x)
	}
	return v
}

// describe names a value for an error message without ever showing a secret.
func (p *parser) describe(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if key, secret := p.secretNodes[n]; secret {
		return "the value of !secret " + key
	}
	v, err := p.scalar(n)
	if err != nil {
		return quoteShort(n.Value)
	}
	switch v.(type) {
	case nil:
		return "nothing (null)"
	case bool:
		return "the boolean " + n.Value
	case int, float64:
		return "the number " + n.Value
	case time.Time:
		return "the date " + n.Value
	}
	return quoteShort(n.Value)
}

// pair is one key/value of a mapping.
type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs lists a mapping's entries in file order, expanding YAML merge keys
// (<<: *anchor; explicit keys win), rejecting duplicate and non-text keys.
func (p *parser) pairs(n *yaml.Node, path string) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || !p.enter(n, path) {
		return nil
	}
	defer p.leave(n)
	return p.pairsRaw(n, path)
}

// pairsRaw is pairs without the cycle guard, for callers that hold it already.
func (p *parser) pairsRaw(n *yaml.Node, path string) []pair {
	seen := map[string]*yaml.Node{}
	var out, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !p.spend(k) {
			return out
		}
		dk := deref(k)
		if dk == nil || dk.Kind != yaml.ScalarNode {
			p.errAt(k, path, "mapping keys must be plain text; if this is a template such as {{ domain }}, put it in quotes")
			continue
		}
		if dk.Tag == "!!merge" && isPlain(dk) {
			merged = append(merged, p.mergeSource(v, path)...)
			continue
		}
		key := dk.Value
		if first, dup := seen[key]; dup {
			p.errAt(k, joinKey(path, key), "duplicate key (first written at line %d); write each key once", first.Line)
			continue
		}
		seen[key] = dk
		out = append(out, pair{key: key, k: dk, v: v})
	}
	for _, m := range merged {
		if _, ok := seen[m.key]; !ok {
			seen[m.key] = m.k
			out = append(out, m)
		}
	}
	return out
}

func (p *parser) mergeSource(v *yaml.Node, path string) []pair {
	d := deref(v)
	switch {
	case d != nil && d.Kind == yaml.MappingNode:
		return p.pairs(d, path)
	case d != nil && d.Kind == yaml.SequenceNode:
		var out []pair
		have := map[string]bool{}
		for _, c := range d.Content {
			if dc := deref(c); dc == nil || dc.Kind != yaml.MappingNode {
				p.errAt(c, path, "a << merge takes a mapping or a list of mappings")
				continue
			}
			for _, pr := range p.pairs(c, path) {
				if !have[pr.key] { // the first mapping listed wins
					have[pr.key] = true
					out = append(out, pr)
				}
			}
		}
		return out
	}
	p.errAt(v, path, "a << merge takes a mapping or a list of mappings, got %s", p.describe(v))
	return nil
}

// value decodes any node to plain Go values: nil, bool, int, float64, string,
// time.Time, []any or map[string]any.
func (p *parser) value(n *yaml.Node, path string) any {
	d := deref(n)
	if d == nil || !p.spend(d) {
		return nil
	}
	switch d.Kind {
	case yaml.ScalarNode:
		v, err := p.scalar(d)
		if err != nil {
			p.errAt(d, path, "%v", err)
		}
		return v
	case yaml.SequenceNode:
		if !p.enter(d, path) {
			return nil
		}
		defer p.leave(d)
		out := make([]any, 0, len(d.Content))
		for i, c := range d.Content {
			out = append(out, p.value(c, indexKey(path, i)))
		}
		return out
	case yaml.MappingNode:
		if !p.enter(d, path) {
			return nil
		}
		defer p.leave(d)
		prs := p.pairsRaw(d, path)
		out := make(map[string]any, len(prs))
		for _, pr := range prs {
			out[pr.key] = p.value(pr.v, joinKey(path, pr.key))
		}
		return out
	}
	return nil
}

// obj is a mapping being read as a section with known keys.
type obj struct {
	p     *parser
	node  *yaml.Node // nil when the section was absent or null
	path  string
	pairs []pair
	index map[string]int
}

// object reads n as a mapping; absent or null gives an empty obj. ok is false
// (after an error) when n is something else.
func (p *parser) object(n *yaml.Node, path, what string) (*obj, bool) {
	o := &obj{p: p, path: path, index: map[string]int{}}
	if p.isNull(n) {
		o.node = deref(n)
		return o, true
	}
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		p.errAt(d, path, "expected %s, got %s", what, p.describe(d))
		return o, false
	}
	o.node = d
	o.pairs = p.pairs(d, path)
	for i, pr := range o.pairs {
		o.index[pr.key] = i
	}
	return o, true
}

func (o *obj) get(key string) *yaml.Node {
	if i, ok := o.index[key]; ok {
		return o.pairs[i].v
	}
	return nil
}

func (o *obj) has(key string) bool {
	_, ok := o.index[key]
	return ok
}

// keyNode returns the key node (for positions), or the mapping node itself.
func (o *obj) keyNode(key string) *yaml.Node {
	if i, ok := o.index[key]; ok {
		return o.pairs[i].k
	}
	return o.node
}

func (o *obj) key(name string) string { return joinKey(o.path, name) }

// unknown warns about every key not in allowed. hint may add advice for a key.
func (o *obj) unknown(allowed []string, hint func(key string) string) {
	for _, pr := range o.pairs {
		if contains(allowed, pr.key) {
			continue
		}
		msg := fmt.Sprintf("unknown key %s, ignored (allowed here: %s)", quoteShort(pr.key), strings.Join(allowed, ", "))
		if hint != nil {
			if h := hint(pr.key); h != "" {
				msg += "; " + h
			}
		}
		if c := closest(pr.key, allowed); c != "" {
			msg += "; did you mean " + c + "?"
		}
		o.p.warnAt(pr.k, o.key(pr.key), "%s", msg)
	}
}

// misspelling finds a key of o that is not known and is close enough to name
// to be its typo (imap_sever for imap_server).
func (o *obj) misspelling(name string, known func(key string) bool) (pair, bool) {
	for _, pr := range o.pairs {
		if pr.key != name && !known(pr.key) && closest(pr.key, []string{name}) == name {
			return pr, true
		}
	}
	return pair{}, false
}

// unknownSection reports every top-level key not in allowed as an error: a
// misspelt section (intergrations:) would otherwise leave Steward running with
// nothing configured. Keys starting with "x-" are left alone, so a document can
// hold YAML anchors (x-defaults: &defaults {...}) for << merges.
func (o *obj) unknownSection(allowed []string) {
	for _, pr := range o.pairs {
		if contains(allowed, pr.key) || strings.HasPrefix(pr.key, "x-") {
			continue
		}
		msg := fmt.Sprintf("unknown section %s", quoteShort(pr.key))
		if c := closest(pr.key, allowed); c != "" {
			msg += "; did you mean " + c + "?"
		}
		msg += fmt.Sprintf(" (allowed at the top level: %s; a key starting with x- is ignored, e.g. to hold YAML anchors)", strings.Join(allowed, ", "))
		o.p.errAt(pr.k, o.key(pr.key), "%s", msg)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// --- typed readers. Each treats an absent or null value as "not set" (ok false,
// no error) and reports a wrong type as an error naming what is allowed.

// text reads a string. Numbers and booleans are errors (as in the reference), an
// unquoted date is taken as its text.
func (p *parser) text(n *yaml.Node, key string) (string, bool) {
	if p.isNull(n) {
		return "", false
	}
	d := deref(n)
	if d.Kind != yaml.ScalarNode {
		p.errAt(d, key, "expected text, got %s", p.describe(d))
		return "", false
	}
	v, err := p.scalar(d)
	if err != nil {
		p.errAt(d, key, "%v", err)
		return "", false
	}
	if s, ok := p.asText(d, v); ok {
		return s, true
	}
	p.errAt(d, key, "expected text, got %s; put it in quotes if you mean the text", p.describe(d))
	return "", false
}

// integer reads an int; numeric text ("993") and whole floats are accepted.
func (p *parser) integer(n *yaml.Node, key string) (int, bool) {
	if p.isNull(n) {
		return 0, false
	}
	d := deref(n)
	bad := func() (int, bool) {
		p.errAt(d, key, "expected an integer, got %s", p.describe(d))
		return 0, false
	}
	if d.Kind != yaml.ScalarNode {
		return bad()
	}
	v, err := p.scalar(d)
	if err != nil {
		return bad()
	}
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), true
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return i, true
		}
	}
	return bad()
}

// number reads a float64; integers and numeric text are accepted.
func (p *parser) number(n *yaml.Node, key string) (float64, bool) {
	if p.isNull(n) {
		return 0, false
	}
	d := deref(n)
	if d.Kind == yaml.ScalarNode {
		if v, err := p.scalar(d); err == nil {
			switch x := v.(type) {
			case int:
				return float64(x), true
			case float64:
				return x, true
			case string:
				if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil && !math.IsNaN(f) {
					return f, true
				}
			}
		}
	}
	p.errAt(d, key, "expected a number, got %s", p.describe(d))
	return 0, false
}

// boolean reads a bool: true/false and the YAML 1.1 words yes/no/on/off/y/n in any
// case, quoted or not (lax, like the reference's validation), and 0/1.
func (p *parser) boolean(n *yaml.Node, key string) (bool, bool) {
	if p.isNull(n) {
		return false, false
	}
	d := deref(n)
	if d.Kind == yaml.ScalarNode {
		if v, err := p.scalar(d); err == nil {
			switch x := v.(type) {
			case bool:
				return x, true
			case int:
				if x == 0 || x == 1 {
					return x == 1, true
				}
			case string:
				s := strings.ToLower(strings.TrimSpace(x))
				if b, ok := yaml11Bools[s]; ok {
					return b, true
				}
				switch s {
				case "t", "1":
					return true, true
				case "f", "0":
					return false, true
				}
			}
		}
	}
	p.errAt(d, key, "expected true or false (yes/no, on/off also work), got %s", p.describe(d))
	return false, false
}

// texts reads a list of strings.
func (p *parser) texts(n *yaml.Node, key string) ([]string, bool) {
	if p.isNull(n) {
		return nil, false
	}
	d := deref(n)
	if d.Kind != yaml.SequenceNode {
		p.errAt(d, key, "expected a list of texts, got %s", p.describe(d))
		return nil, false
	}
	out := make([]string, 0, len(d.Content))
	ok := true
	for i, c := range d.Content {
		if !p.spend(c) {
			return out, false
		}
		if p.isNull(c) {
			p.errAt(c, indexKey(key, i), "expected text, got nothing (null)")
			ok = false
			continue
		}
		s, good := p.text(c, indexKey(key, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// mapping reads a mapping of any values (parameters, inputs).
func (p *parser) mapping(n *yaml.Node, key, what string) (map[string]any, bool) {
	if p.isNull(n) {
		return nil, false
	}
	d := deref(n)
	if d.Kind != yaml.MappingNode {
		p.errAt(d, key, "expected %s, got %s", what, p.describe(d))
		return nil, false
	}
	m, _ := p.value(d, key).(map[string]any)
	return m, true
}
