package config_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

func TestGatewayHostsAndTLS(t *testing.T) {
	cfg := mustParse(t, llmsDefault+`
gateway:
  listen: 0.0.0.0:6767
  token: !secret gw
  hosts: [steward.home.lan, "pi.local:8443", 192.168.1.20, "[fd00::1]:6767", fd00::2]
  tls_cert: /etc/steward/gateway.crt
  tls_key: /etc/steward/gateway.key
`, map[string]string{"gw": "gw-token-value"})
	noWarnings(t, cfg)
	want := []string{"steward.home.lan", "pi.local:8443", "192.168.1.20", "[fd00::1]:6767", "fd00::2"}
	if !slices.Equal(cfg.Gateway.Hosts, want) {
		t.Errorf("hosts = %q, want %q", cfg.Gateway.Hosts, want)
	}
	if cfg.Gateway.TLSCert != "/etc/steward/gateway.crt" || cfg.Gateway.TLSKey != "/etc/steward/gateway.key" {
		t.Errorf("tls = %q %q", cfg.Gateway.TLSCert, cfg.Gateway.TLSKey)
	}

	var described bytes.Buffer
	if err := cfg.Describe(&described); err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		"Gateway: 0.0.0.0:6767 (token set; HTTPS; also answers to steward.home.lan, pi.local:8443",
		"hosts:", "- steward.home.lan", "tls_cert: /etc/steward/gateway.crt", "tls_key: /etc/steward/gateway.key",
	} {
		if !strings.Contains(described.String(), frag) {
			t.Errorf("config check output lacks %q:\n%s", frag, described.String())
		}
	}
	if strings.Contains(described.String(), "gw-token-value") {
		t.Error("config check output shows the token")
	}

	t.Run("masked config parses back", func(t *testing.T) {
		b, err := cfg.Masked()
		if err != nil {
			t.Fatal(err)
		}
		back := mustParse(t, string(b), map[string]string{"gw": "gw-token-value"})
		if !slices.Equal(back.Gateway.Hosts, want) || back.Gateway.TLSCert != cfg.Gateway.TLSCert || back.Gateway.TLSKey != cfg.Gateway.TLSKey {
			t.Errorf("round trip: %+v", back.Gateway)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		cfg := mustParse(t, llmsDefault, nil)
		if cfg.Gateway.Hosts != nil || cfg.Gateway.TLSCert != "" || cfg.Gateway.TLSKey != "" {
			t.Errorf("gateway = %+v", cfg.Gateway)
		}
	})
}

func TestGatewayHostsAndTLSErrors(t *testing.T) {
	// llmsDefault is four lines; "gateway:" is line 5.
	tests := []struct {
		name string
		doc  string
		key  string
		line int
		frag []string
	}{
		{"scheme", "gateway:\n  hosts: [\"https://steward.home.lan\"]\n", "gateway.hosts[0]", 6,
			[]string{`"https://steward.home.lan"`, "no scheme"}},
		{"path", "gateway:\n  hosts:\n    - ok.lan\n    - steward.home.lan/ui\n", "gateway.hosts[1]", 8,
			[]string{"no scheme, path"}},
		{"wildcard", "gateway:\n  hosts: [\"*.home.lan\"]\n", "gateway.hosts[0]", 6, []string{"not a valid host name", "no wildcards"}},
		{"bad port", "gateway:\n  hosts: [\"pi.local:99999\"]\n", "gateway.hosts[0]", 6, []string{"invalid port"}},
		{"empty", "gateway:\n  hosts: [\"\"]\n", "gateway.hosts[0]", 6, []string{"is empty"}},
		{"too long", "gateway:\n  hosts: [" + strings.Repeat("a", 300) + "]\n", "gateway.hosts[0]", 6, []string{"longer than"}},
		{"bad ipv6", "gateway:\n  hosts: [\"[fd00::zz]\"]\n", "gateway.hosts[0]", 6, []string{"not a valid IP address"}},
		{"not a list", "gateway:\n  hosts: steward.home.lan\n", "gateway.hosts", 6, []string{"expected a list of texts"}},
		{"number", "gateway:\n  hosts: [1]\n", "gateway.hosts[0]", 6, []string{"expected text"}},
		{"cert without key", "gateway:\n  tls_cert: /x.crt\n", "gateway.tls_cert", 6,
			[]string{"gateway.tls_key is not", "set both", "or neither"}},
		{"key without cert", "gateway:\n  listen: 127.0.0.1:1\n  tls_key: /x.key\n", "gateway.tls_key", 7,
			[]string{"gateway.tls_cert is not", "set both"}},
		{"empty cert", "gateway:\n  tls_cert: \"\"\n  tls_key: /x.key\n", "gateway.tls_cert", 6, []string{"must not be empty"}},
		{"cert not text", "gateway:\n  tls_cert: [a]\n  tls_key: /x.key\n", "gateway.tls_cert", 6, []string{"expected text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := requireError(t, parseErrors(t, llmsDefault+tt.doc, nil), tt.key, tt.frag...)
			if e.Line != tt.line || e.File != "config.yaml" {
				t.Errorf("position = %s:%d, want config.yaml:%d", e.File, e.Line, tt.line)
			}
		})
	}
	t.Run("typo", func(t *testing.T) {
		cfg := mustParse(t, llmsDefault+"gateway:\n  host: [a.lan]\n", nil)
		requireWarning(t, cfg, "gateway.host", "allowed here: listen, token, hosts, tls_cert, tls_key", "did you mean hosts?")
	})
}

func TestSplitHostEntry(t *testing.T) {
	tests := []struct {
		entry, host, port string
		ok                bool
	}{
		{"steward.home.lan", "steward.home.lan", "", true},
		{"Steward.Home.LAN.", "steward.home.lan", "", true},
		{"pi.local:8443", "pi.local", "8443", true},
		{"192.168.1.20", "192.168.1.20", "", true},
		{"192.168.1.20:6767", "192.168.1.20", "6767", true},
		{"fd00::1", "fd00::1", "", true},
		{"[FD00::1]", "fd00::1", "", true},
		{"[fd00::1]:6767", "fd00::1", "6767", true},
		{"", "", "", false},
		{"pi.local:0", "", "", false},
		{"pi.local:x", "", "", false},
		{"pi.local:", "", "", false},
		{"-bad.lan", "", "", false},
		{"a..b", "", "", false},
		{"a_b.lan", "", "", false},
		{"http://pi.local", "", "", false},
		{"user@pi.local", "", "", false},
		{"[pi.local]", "", "", false},
		{"pi local", "", "", false},
	}
	for _, tt := range tests {
		host, port, err := config.SplitHostEntry(tt.entry)
		if (err == nil) != tt.ok || host != tt.host || port != tt.port {
			t.Errorf("SplitHostEntry(%q) = %q, %q, %v; want %q, %q, ok %v", tt.entry, host, port, err, tt.host, tt.port, tt.ok)
		}
	}
}
