package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/manifest"
)

// LoadOptions says where the configuration comes from.
type LoadOptions struct {
	// Path is the config file. "" means: $STEWARD_CONFIG, else ./config.yaml, and a
	// missing file then starts Steward with defaults. A Path given here (typically
	// the --config flag) must exist.
	Path string
	// SecretsPath is the secrets file; default secrets.yaml beside the config file.
	// A missing secrets file is fine for a config without !secret; a !secret
	// then fails, saying the file does not exist and how to create it.
	SecretsPath string
	// Registry holds the integration types that integrations[].type may name. A nil
	// registry knows no types, so every integration entry is an error.
	Registry *manifest.Registry
	// Overrides are values from command-line flags by dotted key (see
	// OverridableKeys); they win over the environment and the file.
	Overrides map[string]string
	// Environ is the environment as KEY=value lines; nil means os.Environ().
	// STEWARD_<KEY> variables (see EnvName) win over the file.
	Environ []string
}

// DefaultPath is the config file used when neither --config nor $STEWARD_CONFIG
// names one.
const DefaultPath = "config.yaml"

// Find resolves the config file path: the --config flag value, then
// $STEWARD_CONFIG, then ./config.yaml. explicit is true when the path was named
// (flag or environment), in which case a missing file is an error. A nil environ
// means os.Environ().
func Find(flagPath string, environ []string) (path string, explicit bool) {
	if flagPath != "" {
		return flagPath, true
	}
	if v := envLookup(environ, "STEWARD_CONFIG"); v != "" {
		return v, true
	}
	return DefaultPath, false
}

func envLookup(environ []string, name string) string {
	if environ == nil {
		environ = os.Environ()
	}
	v := ""
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val // the last assignment wins, as in exec
		}
	}
	return v
}

// Load reads, validates and layers the configuration: the YAML file (with
// secrets.yaml for !secret), then STEWARD_* environment variables, then
// Overrides. On failure the error is a *LoadError listing every problem found
// with the warnings of the same pass (errors.As also reaches its Errors).
func Load(opts LoadOptions) (*Config, error) {
	cfg, err := load(opts)
	if err != nil {
		return nil, asLoadError(err)
	}
	return cfg, nil
}

func load(opts LoadOptions) (*Config, error) {
	path, explicit := opts.Path, opts.Path != ""
	if path == "" {
		path, explicit = Find("", opts.Environ)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			cfg, perr := Parse(nil, "", nil, opts)
			if perr != nil {
				return nil, perr
			}
			cfg.Notices = append([]string{fmt.Sprintf(
				"no config file found (looked at --config, $STEWARD_CONFIG and ./%s): starting with defaults", DefaultPath)},
				cfg.Notices...)
			return cfg, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Errors{{File: path, Msg: "config file not found (it was named by --config or $STEWARD_CONFIG)"}}
		}
		return nil, Errors{{File: path, Msg: "cannot read the config file: " + describeIOError(err)}}
	}

	secretsPath := opts.SecretsPath
	var secretsNotice string
	if secretsPath == "" {
		secretsPath = filepath.Join(filepath.Dir(path), "secrets.yaml")
		// An example config (config.example.yaml) is checked against the example
		// secrets beside it when there is no real secrets.yaml, so
		// `steward config check --config config.example.yaml` works in a fresh clone.
		if strings.HasSuffix(filepath.Base(path), ".example.yaml") {
			example := filepath.Join(filepath.Dir(path), "secrets.example.yaml")
			if _, err := os.Stat(secretsPath); errors.Is(err, fs.ErrNotExist) {
				if _, err := os.Stat(example); err == nil {
					secretsPath = example
					secretsNotice = "using " + example + " for the secrets of this example config"
				}
			}
		}
	}
	if abs, err := filepath.Abs(secretsPath); err == nil {
		secretsPath = abs
	}
	opts.SecretsPath = secretsPath
	var secrets map[string]string
	var secretWarn *Warning
	switch sdata, err := os.ReadFile(secretsPath); {
	case err == nil:
		s, serr := ParseSecrets(sdata, secretsPath)
		if serr != nil {
			return nil, serr
		}
		secrets = s
		if st, err := os.Stat(secretsPath); err == nil && st.Mode().Perm()&0o077 != 0 && len(s) > 0 && secretsNotice == "" {
			secretWarn = &Warning{Position: Position{File: secretsPath}, Message: fmt.Sprintf(
				"the secrets file can be read by other users (mode %04o); run chmod 600 %s", st.Mode().Perm(), secretsPath)}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, Errors{{File: secretsPath, Msg: "cannot read the secrets file: " + describeIOError(err)}}
	}

	cfg, err := Parse(data, path, secrets, opts)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) && secretWarn != nil {
			le.Warnings = append(le.Warnings, *secretWarn)
		}
		return nil, err
	}
	if secretsNotice != "" {
		cfg.Notices = append(cfg.Notices, secretsNotice)
	}
	if secretWarn != nil {
		cfg.Warnings = append(cfg.Warnings, *secretWarn)
	}
	return cfg, nil
}

func describeIOError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// ParseSecrets reads a secrets.yaml document: a mapping of key → scalar. Values
// are taken as written (the scalar's text: `yes` stays "yes", `0123` stays
// "0123"; null is ""), never interpreted. Errors never contain a value.
func ParseSecrets(data []byte, file string) (map[string]string, error) {
	root, errs := parseYAML(data, file)
	if errs != nil {
		return nil, errs
	}
	out := map[string]string{}
	if root == nil {
		return out, nil
	}
	p := newParser(file, file, nil, nil)
	d := deref(root)
	if p.isNull(d) {
		return out, nil
	}
	if d.Kind != yaml.MappingNode {
		return nil, Errors{{File: file, Line: d.Line, Msg: "expected a mapping of secret names to values (imap_password: \"...\")"}}
	}
	for _, pr := range p.pairs(d, "") {
		v := deref(pr.v)
		switch {
		case v == nil:
		case v.Kind != yaml.ScalarNode:
			p.errAt(pr.k, pr.key, "a secret must be a single value (text), not a mapping or list")
		case v.Style&yaml.TaggedStyle == 0 && isPlain(v) && v.Tag == "!!null":
			out[pr.key] = ""
		default:
			out[pr.key] = v.Value
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return out, nil
}

// Parse validates one config document without touching the file system: data is
// the YAML text (nil or empty = an empty config), file the name used in messages,
// secrets the resolved secrets.yaml: nil means there is no secrets file (a
// !secret then reports that the file does not exist and how to create it), an
// empty map an empty one. opts.Path is ignored; Registry,
// Overrides, Environ and SecretsPath (for messages) apply as in Load. On
// failure the error is a *LoadError, as for Load.
func Parse(data []byte, file string, secrets map[string]string, opts LoadOptions) (*Config, error) {
	cfg, err := parse(data, file, secrets, opts)
	if err != nil {
		return nil, asLoadError(err)
	}
	return cfg, nil
}

func parse(data []byte, file string, secrets map[string]string, opts LoadOptions) (*Config, error) {
	secretsFile := opts.SecretsPath
	if secretsFile == "" {
		dir := "."
		if file != "" {
			dir = filepath.Dir(file)
		}
		secretsFile = filepath.Join(dir, "secrets.yaml")
	}
	p := newParser(file, secretsFile, secrets, opts.Registry)
	cfg := &Config{Source: file}

	root, errs := parseYAML(data, file)
	if errs != nil {
		return nil, errs
	}
	if root != nil {
		p.resolveTags(root, "", false, map[*yaml.Node]bool{})
	}
	p.reportMissingSecretsFile()
	layered := p.document(root, cfg)
	p.layer(cfg, layered, opts)

	for n, key := range p.yoloNodes {
		if !p.yoloUsed[n] {
			p.warnAt(n, key, "!yolo only has a meaning on an action in an automation's then; ignored here")
		}
	}
	p.redactAll()
	sort.SliceStable(p.warnings, func(i, j int) bool {
		if p.warnings[i].File != p.warnings[j].File {
			return p.warnings[i].File < p.warnings[j].File
		}
		if p.warnings[i].Line != p.warnings[j].Line {
			return p.warnings[i].Line < p.warnings[j].Line
		}
		return p.warnings[i].Key < p.warnings[j].Key
	})
	if len(p.errs) > 0 {
		// The warnings go with the errors: an unknown key beside a missing
		// required one is usually its typo.
		return nil, &LoadError{Errors: p.errs.sorted(), Warnings: p.warnings, Notices: p.notices}
	}
	cfg.Warnings = append(cfg.Warnings, p.warnings...)
	cfg.Notices = append(cfg.Notices, p.notices...)
	cfg.masks = p.usedSecrets
	return cfg, nil
}

// redactAll is the last line of defence for "secrets never appear in messages":
// every resolved secret value still present in an error, warning or notice (for
// example a name written with !secret and then quoted in a message) is replaced
// by a reference to its key.
func (p *parser) redactAll() {
	if len(p.usedSecrets) == 0 {
		return
	}
	vals := make([]string, 0, len(p.usedSecrets))
	for v := range p.usedSecrets {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	redact := func(s string) string {
		for _, v := range vals {
			s = replaceWhole(s, v, "(!secret "+p.usedSecrets[v]+")")
		}
		return s
	}
	for _, e := range p.errs {
		e.Msg, e.Key = redact(e.Msg), redact(e.Key)
	}
	for i := range p.warnings {
		p.warnings[i].Message, p.warnings[i].Key = redact(p.warnings[i].Message), redact(p.warnings[i].Key)
	}
	for i := range p.notices {
		p.notices[i] = redact(p.notices[i])
	}
}

// replaceWhole replaces the occurrences of old in s that are not part of a longer
// word (so a one-letter secret "x" does not mangle "expected").
func replaceWhole(s, old, repl string) string {
	isWord := func(b byte) bool {
		return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
	}
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		whole := (i == 0 || !isWord(s[i-1]) || !isWord(old[0])) &&
			(end == len(s) || !isWord(s[end]) || !isWord(old[len(old)-1]))
		if whole {
			b.WriteString(s[:i] + repl)
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
}
