package config

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// overridableKeys are the scalar keys that STEWARD_* variables and flags may set.
var overridableKeys = []string{
	"nats.url", "nats.listen", "nats.store_dir", "nats.credentials", "nats.ca",
	"gateway.listen", "gateway.token",
	"directories.data", "directories.logs", "directories.notes",
}

// OverridableKeys lists the dotted keys that LoadOptions.Overrides and STEWARD_*
// environment variables may set.
func OverridableKeys() []string { return append([]string(nil), overridableKeys...) }

// EnvName is the environment variable of an overridable key:
// "nats.url" → "STEWARD_NATS_URL".
func EnvName(key string) string {
	return "STEWARD_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Defaults of the overridable keys (nats.store_dir defaults to <data>/nats).
const (
	DefaultNATSListen    = "127.0.0.1:4222"
	DefaultGatewayListen = "127.0.0.1:6767"
	DefaultDataDir       = "./data"
	DefaultLogsDir       = "logs"
)

// fileScalar is an overridable key as written in the file.
type fileScalar struct {
	value string
	node  *yaml.Node
}

// envFlag carries one environment value into viper (see layer).
type envFlag struct{ name, value string }

// HasChanged reports that the value is set (viper.FlagValue).
func (f envFlag) HasChanged() bool { return true }

// Name is the variable's name (viper.FlagValue).
func (f envFlag) Name() string { return f.name }

// ValueString is the variable's value (viper.FlagValue).
func (f envFlag) ValueString() string { return f.value }

// ValueType is always "string" (viper.FlagValue).
func (f envFlag) ValueType() string { return "string" }

// layer applies flags over STEWARD_* variables over the file to the overridable
// keys, with a fresh viper instance: the file values form viper's config layer,
// the environment its flag layer and the Overrides its override layer (Set), so
// viper's precedence is exactly flags > environment > file. The environment goes
// through the flag layer because viper can only read the process environment and
// LoadOptions.Environ must be injectable.
func (p *parser) layer(cfg *Config, file map[string]fileScalar, opts LoadOptions) {
	v := viper.New()

	tree := map[string]any{}
	for key, fs := range file {
		section, name, _ := strings.Cut(key, ".")
		m, _ := tree[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			tree[section] = m
		}
		m[name] = fs.value
	}
	if err := v.MergeConfigMap(tree); err != nil {
		p.errs = append(p.errs, &Error{File: p.file, Msg: "cannot layer configuration: " + err.Error()})
		return
	}

	environ := opts.Environ
	envSet := map[string]string{}
	for _, key := range overridableKeys {
		name := EnvName(key)
		if val := envLookup(environ, name); val != "" { // an empty variable counts as unset
			envSet[key] = name
			if err := v.BindFlagValue(key, envFlag{name: name, value: val}); err != nil {
				p.errs = append(p.errs, &Error{File: "environment", Key: name, Msg: err.Error()})
			}
		}
	}

	overrideKeys := make([]string, 0, len(opts.Overrides))
	for k := range opts.Overrides {
		overrideKeys = append(overrideKeys, k)
	}
	sort.Strings(overrideKeys)
	for _, key := range overrideKeys {
		lk := strings.ToLower(strings.TrimSpace(key))
		if !contains(overridableKeys, lk) {
			p.errs = append(p.errs, &Error{File: "flags", Key: key,
				Msg: "cannot be set from the command line (allowed: " + strings.Join(overridableKeys, ", ") + ")"})
			continue
		}
		v.Set(lk, opts.Overrides[key])
	}

	// where tells error messages where a layered value came from.
	where := func(key string) (string, int) {
		if _, ok := opts.Overrides[key]; ok {
			return "flags", 0
		}
		for k := range opts.Overrides {
			if strings.ToLower(strings.TrimSpace(k)) == key {
				return "flags", 0
			}
		}
		if name, ok := envSet[key]; ok {
			return "environment " + name, 0
		}
		if fs, ok := file[key]; ok {
			return p.file, p.line(fs.node)
		}
		return "defaults", 0
	}
	get := func(key string) (string, bool) {
		if !v.IsSet(key) {
			return "", false
		}
		return v.GetString(key), true
	}
	str := func(key, def string) string {
		if s, ok := get(key); ok {
			return s
		}
		return def
	}

	cfg.Directories.Data = str("directories.data", DefaultDataDir)
	cfg.Directories.Logs = str("directories.logs", DefaultLogsDir)
	cfg.Directories.Notes = str("directories.notes", "")
	cfg.NATS.URL = str("nats.url", "")
	cfg.NATS.Listen = str("nats.listen", DefaultNATSListen)
	cfg.NATS.StoreDir = str("nats.store_dir", filepath.Join(cfg.Directories.Data, "nats"))
	cfg.NATS.Credentials = str("nats.credentials", "")
	cfg.NATS.CA = str("nats.ca", "")
	cfg.Gateway.Listen = str("gateway.listen", DefaultGatewayListen)
	if tok, ok := get("gateway.token"); ok {
		secretKey := ""
		if fs, inFile := file["gateway.token"]; inFile && fs.value == tok {
			secretKey = p.secretNodes[fs.node]
		}
		cfg.Gateway.Token = NewSecret(tok, secretKey)
	}

	fail := func(key, msg string) {
		f, line := where(key)
		p.errs = append(p.errs, &Error{File: f, Line: line, Key: key, Msg: msg})
	}
	// show quotes a layered value for a message, unless it came from !secret.
	show := func(key, val string) string {
		if fs, ok := file[key]; ok && fs.value == val {
			if sk, secret := p.secretNodes[fs.node]; secret {
				return "the value of !secret " + sk
			}
		}
		return quoteShort(val)
	}
	for _, key := range []string{"directories.data", "directories.logs"} {
		if s, _ := get(key); strings.TrimSpace(s) == "" && v.IsSet(key) {
			fail(key, "must not be empty (it is a directory path)")
		}
	}
	if cfg.NATS.Listen != "" {
		if msg := checkListen(cfg.NATS.Listen, show("nats.listen", cfg.NATS.Listen)); msg != "" {
			fail("nats.listen", msg+` (e.g. "127.0.0.1:4222"; "" turns off TCP clients)`)
		}
	}
	if msg := checkListen(cfg.Gateway.Listen, show("gateway.listen", cfg.Gateway.Listen)); msg != "" {
		fail("gateway.listen", msg+` (e.g. "127.0.0.1:6767")`)
	} else if !isLoopbackListen(cfg.Gateway.Listen) && cfg.Gateway.Token.IsZero() {
		f, line := where("gateway.listen")
		p.warnings = append(p.warnings, Warning{Position: Position{File: f, Line: line}, Key: "gateway.listen",
			Message: fmt.Sprintf("%s is beyond loopback but gateway.token is not set: the gateway will refuse to start; set gateway.token or listen on 127.0.0.1", show("gateway.listen", cfg.Gateway.Listen))})
	}
	if cfg.NATS.URL == "" && cfg.NATS.Listen != "" && checkListen(cfg.NATS.Listen, "") == "" && !isLoopbackListen(cfg.NATS.Listen) {
		f, line := where("nats.listen")
		p.warnings = append(p.warnings, Warning{Position: Position{File: f, Line: line}, Key: "nats.listen",
			Message: fmt.Sprintf("the embedded NATS server listens on %s, beyond loopback: whoever reaches it can read and publish tasks unless NATS authorization is configured", show("nats.listen", cfg.NATS.Listen))})
	}
}

// checkListen validates a host:port listen address (shown is how to name it in
// the message); "" = fine.
func checkListen(addr, shown string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return shown + " is not a host:port address"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return shown + " has an invalid port"
	}
	return ""
}

func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
