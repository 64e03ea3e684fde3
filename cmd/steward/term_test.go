package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/msg"
)

// Finding 11: what `steward chat` prints comes from an LLM that read attacker
// mail; no control sequence may reach the terminal, newlines and tabs stay.
func TestTerminalSafe(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", "Hello, world", "Hello, world"},
		{"newline and tab kept", "a\n\tb\n", "a\n\tb\n"},
		{"unicode kept", "Grüße — 日本 🙂", "Grüße — 日本 🙂"},
		{"CSI colour", "\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"clear screen", "x\x1b[2J\x1b[H", "x[2J[H"},
		{"OSC title with BEL", "\x1b]0;pwned\x07ok", "]0;pwnedok"},
		{"OSC 52 clipboard", "\x1b]52;c;ZWNobyBoaQ==\x1b\\", "]52;c;ZWNobyBoaQ==\\"},
		{"carriage return overwrite", "rm -rf ~\rsafe", "rm -rf ~safe"},
		{"backspace", "abc\b\b\bxyz", "abcxyz"},
		{"NUL and DEL", "a\x00b\x7fc", "abc"},
		{"C1 CSI", "a\u009b31mb", "a31mb"},
		{"C1 OSC", "a\u009d0;t\u009cb", "a0;tb"},
		{"bidi override", "abc\u202edcba\u202c", "abcdcba"},
		{"bidi isolate", "\u2066x\u2069", "x"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"empty", "", ""},
	} {
		if got := terminalSafe(c.in); got != c.want {
			t.Errorf("%s: terminalSafe(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestSafeWriter(t *testing.T) {
	var buf bytes.Buffer
	n, err := safeWriter{w: &buf}.Write([]byte("assistant> \x1b[2Jhi\n"))
	if err != nil || n != len("assistant> \x1b[2Jhi\n") || buf.String() != "assistant> [2Jhi\n" {
		t.Fatalf("%d %v %q", n, err, buf.String())
	}
}

// End to end: a reply carrying escape sequences is printed without them.
func TestChatCommandStripsControlSequences(t *testing.T) {
	g := startChatGateway(t, "")
	out, err := chatRun(t, chatOptions{Gateway: g.url}, "hi \x1b]0;pwned\x07\x1b[2Jthere\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Fatalf("control characters reached the terminal: %q", out)
	}
	wantInOrder(t, out, "assistant> You said: hi ]0;pwned[2Jthere\n")
}

// Finding 6: the gateway token comes from a file or the environment; a --token
// flag still works but warns, since argv is public.
func TestChatToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("file-token-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "STEWARD_GATEWAY_TOKEN" {
			return "env-token-456"
		}
		return ""
	}
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		name      string
		o         chatOptions
		flag      bool
		getenv    func(string) string
		want, err string
		warns     bool
	}{
		{"file", chatOptions{TokenFile: file}, false, env, "file-token-123", "", false},
		{"env", chatOptions{}, false, env, "env-token-456", "", false},
		{"none", chatOptions{}, false, noEnv, "", "", false},
		{"flag warns", chatOptions{Token: "argv-token"}, true, env, "argv-token", "", true},
		{"both", chatOptions{Token: "argv-token", TokenFile: file}, true, env, "", "give only one", false},
		{"missing file", chatOptions{TokenFile: filepath.Join(dir, "nope")}, false, env, "", "--token-file", false},
		{"empty file", chatOptions{TokenFile: empty}, false, env, "", "want one line", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := chatToken(c.o, c.flag, c.getenv, &stderr)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "file-token-123") {
					t.Fatal("error shows the token")
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
			if warned := strings.Contains(stderr.String(), "process list") || strings.Contains(stderr.String(), "(ps)"); warned != c.warns {
				t.Fatalf("warning = %q", stderr.String())
			}
			if strings.Contains(stderr.String(), "argv-token") {
				t.Fatal("the warning shows the token")
			}
		})
	}
}

func TestURLHasSecret(t *testing.T) {
	for in, want := range map[string]bool{
		"nats://pi:pw@host:4222":            true,
		"nats://tok@host:4222":              true,
		"nats://host:4222":                  false,
		"nats://h1:4222,nats://u:p@h2:4222": true,
		"":                                  false,
	} {
		if got := urlHasSecret(in); got != want {
			t.Errorf("urlHasSecret(%q) = %v", in, got)
		}
	}
}

// `steward config check` (text and --json) never prints credentials written
// in URLs or taken from secrets.yaml.
func TestConfigCheckMasksCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	doc := "llms:\n  default:\n    model: m\n    base_url: https://bob:hunter2pw@llm.example/v1?api_key=sk-live-123\n" +
		"    parameters: {key: !secret llm_key}\n" +
		"nats:\n  url: nats://pi:natspass99@pi.local:4222\n" +
		"directories:\n  data: " + filepath.Join(dir, "data") + "\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte("llm_key: llmkeyvalue-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "check", "--config", cfg}, {"config", "check", "--json", "--config", cfg}} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		for _, secret := range []string{"hunter2pw", "sk-live-123", "natspass99", "llmkeyvalue-1"} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("%v shows %q:\n%s", args, secret, out.String())
			}
		}
		if !strings.Contains(out.String(), "pi:xxxxx@pi.local") {
			t.Errorf("%v: masked URL missing:\n%s", args, out.String())
		}
	}
}

// `steward nats-key FILE` makes a private seed and prints only the public key.
func TestNATSKeyCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "nats.nk")
	run := func() string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"nats-key", path})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	pub := run()
	if !strings.HasPrefix(pub, "U") || len(pub) != 56 {
		t.Fatalf("public key %q", pub)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v %v", fi, err)
	}
	if again := run(); again != pub {
		t.Fatal("an existing key was replaced")
	}
}

func TestTasksLsColumns(t *testing.T) {
	for _, c := range []struct {
		st   msg.Status
		want string
	}{
		{msg.Status{Status: msg.StateActive}, "active"},
		{msg.Status{Status: msg.StateActive, Stale: true}, "active (stale)"},
		{msg.Status{Status: msg.StateFailed}, "failed"},
	} {
		if got := statusText(c.st); got != c.want {
			t.Errorf("statusText(%+v) = %q, want %q", c.st, got, c.want)
		}
	}
	for in, want := range map[string]string{
		"plain":                  "plain",
		"two\nlines\x1b[31m red": "two lines[31m red",
		strings.Repeat("é", 70):  strings.Repeat("é", 57) + "...",
		"tab\tand  spaces":       "tab and spaces",
	} {
		if got := errorText(in); got != want {
			t.Errorf("errorText(%q) = %q, want %q", in, got, want)
		}
	}
}
