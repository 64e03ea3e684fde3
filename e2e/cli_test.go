package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func statusOf(url, token string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(out, "steward ") {
		t.Fatalf("%d %q", code, out)
	}
}

// `steward config check --config config.example.yaml` shows a !yolo rule, a rule
// disabled by the gate, and the warnings; secrets stay masked.
func TestConfigCheckExample(t *testing.T) {
	dir := workDir(t, true)
	out, errOut, code := runCLI(t, dir, "config", "check", "--config", "config.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"yolo", "disabled", "irreversible", "provenance"} {
		if !strings.Contains(strings.ToLower(out), want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	secrets, _ := os.ReadFile(filepath.Join(dir, "secrets.yaml"))
	assertNoSecrets(t, out+errOut, string(secrets))

	out, _, code = runCLI(t, dir, "config", "check", "--config", "config.yaml", "--json")
	if code != 0 {
		t.Fatalf("json exit %d", code)
	}
	var doc struct {
		OK       bool     `json:"ok"`
		Warnings []string `json:"warnings"`
		Rules    []struct {
			Integration string `json:"integration"`
			Platform    string `json:"platform"`
			Index       int    `json:"index"`
			Provenance  string `json:"provenance"`
			Disabled    bool   `json:"disabled"`
			Reason      string `json:"reason"`
			Actions     []struct {
				Action       string `json:"action"`
				Irreversible bool   `json:"irreversible"`
				Yolo         bool   `json:"yolo"`
			} `json:"actions"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var yolo, disabled bool
	for _, r := range doc.Rules {
		if r.Disabled && r.Reason != "" {
			disabled = true
		}
		for _, a := range r.Actions {
			if a.Yolo && a.Irreversible && !r.Disabled {
				yolo = true
			}
		}
	}
	if !doc.OK || !yolo || !disabled || len(doc.Warnings) == 0 {
		t.Fatalf("ok=%v yolo=%v disabled=%v warnings=%d", doc.OK, yolo, disabled, len(doc.Warnings))
	}
	assertNoSecrets(t, out, string(secrets))
}

func TestConfigCheckErrorsExit1(t *testing.T) {
	dir := t.TempDir()
	bad := "llms:\n  default:\n    model: m\nqueue_policies:\n  retention: 7x\n"
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, dir, "config", "check")
	if code != 1 || !strings.Contains(errOut, "config.yaml:5") || !strings.Contains(errOut, "Invalid retention format") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	out, _, code = runCLI(t, dir, "config", "check", "--json")
	var doc struct {
		OK     bool     `json:"ok"`
		Errors []string `json:"errors"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &doc) != nil || doc.OK || len(doc.Errors) == 0 {
		t.Fatalf("exit %d %s", code, out)
	}
}

// assertNoSecrets fails when any secret value from secrets.yaml appears in out.
func assertNoSecrets(t *testing.T, out, secretsFile string) {
	t.Helper()
	for _, line := range strings.Split(secretsFile, "\n") {
		k, v, ok := strings.Cut(line, ":")
		v = strings.Trim(strings.TrimSpace(v), `"'|`)
		if !ok || strings.HasPrefix(strings.TrimSpace(k), "#") || len(v) < 6 {
			continue
		}
		if strings.Contains(out, v) {
			t.Errorf("secret %s leaked", strings.TrimSpace(k))
		}
	}
}
