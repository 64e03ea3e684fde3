package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/services/pipeline"
)

func TestSelectLanes(t *testing.T) {
	all := pipeline.Lanes(map[string]int{"default": 1, "big": 2})
	cases := []struct {
		patterns []string
		want     string
		err      string
	}{
		{nil, "io,script,llm_big,llm_default", ""},
		{[]string{"llm_*"}, "llm_big,llm_default", ""},
		{[]string{"io", "script"}, "io,script", ""},
		{[]string{"io", "i*"}, "io", ""},
		{[]string{"gpu"}, "", `--lanes "gpu" matches no lane (lanes: io, script, llm_big, llm_default)`},
		{[]string{"["}, "", "syntax error"},
	}
	for _, c := range cases {
		got, err := selectLanes(all, c.patterns)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want %q", c.patterns, err, c.err)
			}
			continue
		}
		var names []string
		for _, l := range got {
			names = append(names, l.Name)
		}
		if strings.Join(names, ",") != c.want || err != nil {
			t.Errorf("%v: got %v (%v), want %s", c.patterns, names, err, c.want)
		}
	}
}

func TestGatewayListen(t *testing.T) {
	cases := []struct {
		listen string
		port   int
		want   string
		bad    bool
	}{
		{"", 0, "127.0.0.1:6767", false},
		{"", 8080, "127.0.0.1:8080", false},
		{"0.0.0.0:9000", 7000, "0.0.0.0:7000", false},
		{"[::1]:6767", 1, "[::1]:1", false},
		{"", 70000, "", true},
		{"nonsense", 80, "", true},
	}
	for _, c := range cases {
		got, err := gatewayListen(c.listen, c.port)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("gatewayListen(%q,%d) = %q, %v", c.listen, c.port, got, err)
		}
	}
}

func TestGatewayAllowed(t *testing.T) {
	token := config.NewSecret("s3cret", "gateway_token")
	cases := []struct {
		addr   string
		expose bool
		token  config.Secret
		want   bool
	}{
		{"127.0.0.1:6767", false, config.Secret{}, true},
		{"localhost:6767", false, config.Secret{}, true},
		{"[::1]:6767", false, config.Secret{}, true},
		{"127.0.0.1:6767", true, config.Secret{}, false},
		{"0.0.0.0:6767", false, config.Secret{}, false},
		{"192.168.1.2:6767", false, config.Secret{}, false},
		{"0.0.0.0:6767", true, token, true},
		{"127.0.0.1:6767", true, token, true},
	}
	for _, c := range cases {
		if got := gatewayAllowed(c.addr, c.expose, c.token); got != c.want {
			t.Errorf("gatewayAllowed(%q, expose=%v, token=%v) = %v", c.addr, c.expose, !c.token.IsZero(), got)
		}
	}
}

func TestLoopbackOrEmpty(t *testing.T) {
	for addr, want := range map[string]bool{"": true, "127.0.0.1:4222": true, "localhost:4222": true, "[::1]:4222": true,
		"0.0.0.0:4222": false, "10.0.0.5:4222": false, ":4222": false} {
		if got := loopbackOrEmpty(addr); got != want {
			t.Errorf("%q: %v", addr, got)
		}
	}
}

func TestPolicyFor(t *testing.T) {
	no := false
	cfg := &config.Config{QueuePolicies: config.QueuePolicies{
		Defaults: config.TaskPolicy{DeduplicatePending: true},
		Overrides: map[string]config.PolicyOverride{
			"service.gemini.web_research": {RateLimit: &config.RateLimit{Max: 10, Per: time.Hour, PerText: "1h"}},
			"script.run":                  {DeduplicatePending: &no},
		},
	}}
	p := policyFor(cfg, "service.gemini.web_research")
	if !p.DeduplicatePending || p.RateLimit == nil || p.RateLimit.Max != 10 || p.RateLimit.Per != time.Hour {
		t.Fatalf("%+v", p)
	}
	if p := policyFor(cfg, "script.run"); p.DeduplicatePending || p.RateLimit != nil {
		t.Fatalf("%+v", p)
	}
	if p := policyFor(cfg, "email.inbox.check"); !p.DeduplicatePending || p.RateLimit != nil {
		t.Fatalf("%+v", p)
	}
}
