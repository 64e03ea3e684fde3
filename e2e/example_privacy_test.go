package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/geminifake"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// privacyAnswer is what the Gemini stand-in answers, and the note's body.
const privacyAnswer = "The new Questrade privacy policy takes effect on 1 January 2027. It adds a section on sharing account data with advertising partners and shortens how long call recordings are kept."

// privacySources are the answer's grounding sources.
var privacySources = []geminifake.Source{
	{Title: "questrade.com", URI: "https://www.questrade.com/legal/privacy"},
	{Title: "Questrade updates its privacy policy", URI: "https://news.example.com/questrade-privacy-2027"},
}

// privacyMail is a privacy-policy announcement from questrade.com. auth is
// the receiving server's Authentication-Results value.
func privacyMail(auth, subject, msgID string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf(`Authentication-Results: mx.example.net; %s
From: Questrade <privacy@questrade.com>
To: alice@example.org
Subject: %s
Date: %s
Message-ID: <%s@questrade.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Dear client,

We are updating our Privacy Policy. The new version takes effect on
1 January 2027. Please read it at https://www.questrade.com/legal/privacy.

Questrade
`, auth, subject, time.Now().UTC().Format(time.RFC1123Z), msgID), "\n", "\r\n"))
}

// Issue 12: the example config's privacy-policy rule runs end to end. The
// real binary runs config.example.yaml itself, with only its endpoints,
// credentials and directories pointed at the test's servers (edited in the
// parsed YAML, so the example's classifications and rules are used as
// shipped). A DMARC-passing privacy-policy mail from questrade.com is
// classified privacy_policy_update 0.95 and gemini.research.web_research runs
// once: the note, its sources and the daily-log line are written, the key
// stays out of every output. A copy of the mail that fails DMARC (anyone can
// write From: questrade.com) is classified the same and researched not at
// all, and a second check researches nothing again.
func TestExamplePrivacyPolicyRuleResearches(t *testing.T) {
	imap := dovecot.Start(t)
	realSubject := "Important: we're updating our Privacy Policy"
	spoofSubject := "Privacy Policy update: confirm your account now"
	imap.Append(t, "alice", "INBOX", privacyMail("dkim=pass header.d=questrade.com; spf=pass smtp.mailfrom=questrade.com; dmarc=pass header.from=questrade.com", realSubject, "pp-2027"))
	imap.Append(t, "alice", "INBOX", privacyMail("dkim=none; spf=fail smtp.mailfrom=questrade.com; dmarc=fail header.from=questrade.com", spoofSubject, "spoof-2027"))

	// The classification: a privacy-policy update, and values for the example's
	// other classifications that fire none of its other rules (human 0.5: not
	// <0.2 for note_sender nor <0.05 for the !yolo unsubscribe; newsletter 0.1:
	// below the move, unsubscribe thresholds; requires_response false with a
	// sender that is not no-reply: no archive; priority low: no draft).
	llm := llmfake.New(llmfake.WithFixedReply(llmfake.JSON(map[string]any{
		"human": 0.5, "newsletter": 0.1, "requires_response": false, "priority": "low", "privacy_policy_update": 0.95,
	})))
	defer llm.Close()

	var keyBytes [12]byte
	_, _ = rand.Read(keyBytes[:])
	apiKey := "gm-e2e-" + hex.EncodeToString(keyBytes[:])
	gem := geminifake.New(geminifake.WithKey(apiKey), geminifake.WithReply(func(geminifake.Request) geminifake.Response {
		return geminifake.Response{Text: privacyAnswer, Sources: privacySources, Queries: []string{"questrade privacy policy 2027"}}
	}))
	defer gem.Close()

	dir := t.TempDir()
	writeExampleForTest(t, dir, imap, llm.URL(), gem.URL(), apiKey)

	p := start(t, dir)
	p.waitHealthy(t)
	checkID := triggerCheck(t, p)

	notes, logs := filepath.Join(dir, "notes"), filepath.Join(dir, "logs")
	researchDir := filepath.Join(notes, "services", "gemini", "web_research")
	// The whole cycle (check, collects, classifies, evaluates, the service)
	// has run once every recorded task is finished.
	waitCycleDone(t, p, dir, checkID)
	var queued bool
	var types []string
	for _, s := range listTasks(t, p, dir) {
		queued = queued || s.Type == "service.gemini.web_research"
		types = append(types, s.Type+" "+s.Status)
	}
	if !queued {
		t.Fatalf("the example's privacy-policy rule queued no web_research task (tasks: %s):\n%s", strings.Join(types, ", "), p.out.String())
	}
	// The journal writes the notes and the log line as the tasks finish.
	var logLine string
	poll(t, p, 30*time.Second, "the research note's daily-log line and the mail notes", func() bool {
		logLine = findLine(logs, "Privacy Policy update for ")
		mails, _ := filepath.Glob(filepath.Join(notes, "emails", "personal", "*.md"))
		return logLine != "" && len(mails) == 2
	})

	// One grounded request, with the key in its header, about questrade.com.
	reqs := gem.Requests()
	if len(reqs) != 1 {
		t.Fatalf("geminifake got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Key() != apiKey || r.KeyInQuery() {
		t.Errorf("the request did not carry the key in x-goog-api-key only (header %v, query %q)", r.Key() == apiKey, r.RawQuery)
	}
	if !r.GoogleSearch() {
		t.Errorf("the request has no Google Search tool: %v", r.Tools)
	}
	if prompt := r.Prompt(); !strings.Contains(prompt, "research questrade.com privacy policy") || !strings.Contains(prompt, "updating our Privacy Policy") ||
		strings.Contains(prompt, "confirm your account") {
		t.Errorf("prompt = %q; want the DMARC-passing mail's domain and subject", prompt)
	}
	// The LLM was asked the example's privacy_policy_update question.
	var asked bool
	for _, lr := range llm.Requests() {
		asked = asked || (strings.Contains(string(lr.Schema()), "privacy_policy_update") &&
			strings.Contains(string(lr.Raw), "announcing a change to a privacy policy"))
	}
	if !asked {
		t.Error("no classification request asked privacy_policy_update")
	}

	// The note: the answer as body, the sources in the front matter.
	research, _ := filepath.Glob(filepath.Join(researchDir, "*.md"))
	if len(research) != 1 {
		t.Fatalf("%d research notes in %s, want 1", len(research), researchDir)
	}
	front, body := splitNote(t, research[0])
	if strings.TrimSpace(body) != privacyAnswer {
		t.Errorf("note body = %q, want the answer", body)
	}
	var fm struct {
		Sources     []map[string]string `yaml:"sources"`
		Service     string              `yaml:"service"`
		Integration string              `yaml:"integration"`
		Inputs      map[string]any      `yaml:"inputs"`
	}
	if err := yaml.Unmarshal([]byte(front), &fm); err != nil {
		t.Fatalf("front matter: %v\n%s", err, front)
	}
	if len(fm.Sources) != len(privacySources) {
		t.Errorf("front matter sources = %v", fm.Sources)
	} else {
		for i, s := range privacySources {
			if fm.Sources[i]["title"] != s.Title || fm.Sources[i]["url"] != s.URI {
				t.Errorf("source %d = %v, want %+v", i, fm.Sources[i], s)
			}
		}
	}
	if fm.Service != "service.gemini.web_research" || fm.Integration != "gemini.research" {
		t.Errorf("front matter service %q integration %q", fm.Service, fm.Integration)
	}

	// The daily log links the note.
	rel, _ := filepath.Rel(notes, research[0])
	if want := "Privacy Policy update for questrade.com → " + filepath.ToSlash(rel); !strings.Contains(logLine, want) {
		t.Errorf("daily-log line %q lacks %q", logLine, want)
	}
	if n := countInDir(t, logs, "Privacy Policy update for "); n != 1 {
		t.Errorf("the daily log has %d privacy-policy lines, want 1", n)
	}

	// Nothing else happened to the mail: the example's other rules did not fire.
	if n := len(imap.Messages(t, "alice", "INBOX")); n != 2 {
		t.Errorf("%d messages in INBOX, want both still there", n)
	}
	if n := len(imap.Messages(t, "alice", "Drafts")); n != 0 {
		t.Errorf("%d drafts", n)
	}

	// A second check of the same mail researches nothing again.
	second := triggerCheck(t, p)
	waitCycleDone(t, p, dir, second)
	if n := len(gem.Requests()); n != 1 {
		t.Errorf("geminifake got %d requests after the second check, want still 1", n)
	}
	tasks := listTasks(t, p, dir)
	var research1 int
	for _, s := range tasks {
		if s.Type == "service.gemini.web_research" {
			research1++
			if s.Status != "done" {
				t.Errorf("web_research task %s is %s: %s", s.ID, s.Status, s.Error)
			}
		}
	}
	if research1 != 1 {
		t.Errorf("%d web_research tasks, want 1", research1)
	}

	// No task failed with Unknown task type; the key is in no task record
	// (as the gateway serves it), no note, no log and not in steward's output.
	for _, s := range tasks {
		resp, err := http.Get(p.gateway + "/api/tasks/" + s.ID)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(raw), "Unknown task type") {
			t.Errorf("task %s (%s): %s", s.ID, s.Type, raw)
		}
		if strings.Contains(string(raw), apiKey) {
			t.Errorf("the Gemini key is in task record %s (%s)", s.ID, s.Type)
		}
	}
	for _, d := range []string{notes, logs} {
		if n := countInDir(t, d, apiKey); n != 0 {
			t.Errorf("the Gemini key is in %d files under %s", n, d)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(p.out.String(), apiKey) || strings.Contains(p.out.String(), dovecot.DefaultPassword) {
		t.Error("a secret is in steward's output")
	}
	for _, bad := range []string{"Unknown task type", "unknown key", "never fires", "never matches"} {
		if strings.Contains(p.out.String(), bad) {
			t.Errorf("steward's output says %q", bad)
		}
	}
}

// writeExampleForTest writes config.yaml and secrets.yaml into dir: the
// shipped examples, parsed, with only what must change pointed at the test's
// servers. Classifications, automations, scripts and queue policies stay as
// shipped.
func writeExampleForTest(t *testing.T, dir string, imap *dovecot.Server, llmURL, geminiURL, apiKey string) {
	t.Helper()
	doc := readYAML(t, filepath.Join(repoRoot(), "config.example.yaml"))
	root := doc.Content[0]
	setScalar(t, mapGet(t, mapGet(t, root, "llms"), "default"), "base_url", llmURL)

	integrations := mapGet(t, root, "integrations")
	var kept []*yaml.Node
	var email, gemini *yaml.Node
	for _, in := range integrations.Content {
		switch typ := mapGet(t, in, "type").Value; typ {
		case "email":
			email = in
		case "gemini":
			gemini = in
		case "github":
			// The github integration needs api.github.com and a real GitHub App;
			// it plays no part in the mail → Gemini path, so it is left out.
			continue
		}
		kept = append(kept, in)
	}
	integrations.Content = kept
	if email == nil || gemini == nil {
		t.Fatal("the example lacks the email or gemini integration")
	}
	// The harness's Dovecot speaks plain IMAP on loopback, which automatic
	// imap_security accepts; its user is alice.
	setScalar(t, email, "imap_server", imap.Host())
	setScalar(t, email, "imap_port", fmt.Sprint(imap.Port()))
	setScalar(t, email, "username", "alice")
	setScalar(t, gemini, "api_url", geminiURL) // plain http is allowed for a loopback stand-in

	dirs := mapGet(t, root, "directories")
	for _, k := range []string{"notes", "logs", "data"} {
		setScalar(t, dirs, k, filepath.Join(dir, k))
	}
	// nats.listen and the gateway port are set by start (STEWARD_NATS_LISTEN
	// and --port, both free ports), which win over the file.
	writeYAML(t, filepath.Join(dir, "config.yaml"), doc)

	secrets := readYAML(t, filepath.Join(repoRoot(), "secrets.example.yaml"))
	setScalar(t, secrets.Content[0], "personal_email_password", dovecot.DefaultPassword)
	setScalar(t, secrets.Content[0], "gemini_api_key", apiKey)
	writeYAML(t, filepath.Join(dir, "secrets.yaml"), secrets)
}

func readYAML(t *testing.T, path string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("%s is not a mapping", path)
	}
	return &doc
}

func writeYAML(t *testing.T, path string, doc *yaml.Node) {
	t.Helper()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mapGet returns the value of key in mapping m; the test fails when it is absent.
func mapGet(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	if m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
	}
	t.Fatalf("the example has no %q at line %d", key, m.Line)
	return nil
}

// setScalar sets key in mapping m to a plain scalar (tagged as YAML would
// resolve it), adding the key when it is absent.
func setScalar(t *testing.T, m *yaml.Node, key, value string) {
	t.Helper()
	if m.Kind != yaml.MappingNode {
		t.Fatalf("line %d is not a mapping", m.Line)
	}
	v := &yaml.Node{Kind: yaml.ScalarNode, Value: value}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

// triggerCheck runs the email integration's check as the README documents
// (POST with no body) and returns the check task's id.
func triggerCheck(t *testing.T, p *proc) string {
	t.Helper()
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	if code := do(t, "POST", p.gateway+"/integrations/email.personal/run", &run); code != 200 || len(run.TaskIDs) != 1 {
		t.Fatalf("run: %d %v", code, run.TaskIDs)
	}
	return run.TaskIDs[0]
}

// taskStatus is the part of a task record the test reads.
type taskStatus struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// listTasks is `steward tasks ls --json` against the running steward.
func listTasks(t *testing.T, p *proc, dir string) []taskStatus {
	t.Helper()
	cmd := exec.Command(binary, "tasks", "ls", "--json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STEWARD_NATS_URL="+p.natsURL)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("tasks ls: %v: %s", err, e.String())
	}
	var list []taskStatus
	if err := json.Unmarshal(o.Bytes(), &list); err != nil {
		t.Fatalf("tasks ls: %v: %s", err, o.String())
	}
	return list
}

// waitCycleDone waits until the check task is done and every task recorded
// is finished (done or failed), so whatever the check queued has run.
func waitCycleDone(t *testing.T, p *proc, dir, checkID string) {
	t.Helper()
	var last []taskStatus
	poll(t, p, 60*time.Second, "the check cycle to finish", func() bool {
		last = listTasks(t, p, dir)
		var checkDone bool
		for _, s := range last {
			switch {
			case s.ID == checkID && s.Status != "done":
				return false
			case s.ID == checkID:
				checkDone = true
			case s.Status != "done" && s.Status != "failed":
				return false
			}
		}
		return checkDone
	})
	for _, s := range last {
		if s.Status == "failed" {
			t.Errorf("task %s (%s) failed: %s", s.ID, s.Type, s.Error)
		}
	}
}

// poll waits up to limit for cond, failing with steward's output.
func poll(t *testing.T, p *proc, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s:\n%s", limit, what, p.out.String())
		case <-p.done:
			t.Fatalf("steward exited (%d) while waiting for %s:\n%s", p.exitCode, what, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// findLine returns the first line of a file in dir containing s, "" if none.
func findLine(dir, s string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, s) {
				return line
			}
		}
	}
	return ""
}

// countInDir counts the occurrences of s in the files under dir.
func countInDir(t *testing.T, dir, s string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n += strings.Count(string(b), s)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

// splitNote returns a note's front matter and body.
func splitNote(t *testing.T, path string) (front, body string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(string(b), "---\n")
	if !ok {
		t.Fatalf("%s has no front matter:\n%s", path, b)
	}
	front, body, ok = strings.Cut(rest, "\n---\n")
	if !ok {
		t.Fatalf("%s: unterminated front matter:\n%s", path, b)
	}
	return front, body
}

// An edit of a platform's automations makes the next check evaluate every
// known item again, and the example's rule decides web_research (irreversible:
// the prompt goes to Google) again for a mail already researched; the
// service's at-most-once ledger per item (services/pipeline/service_ledger.go)
// skips it, so Gemini is asked once, across the restart.
func TestExamplePrivacyResearchNotRepeatedAfterRuleEdit(t *testing.T) {
	imap := dovecot.Start(t)
	imap.Append(t, "alice", "INBOX", privacyMail("dkim=pass header.d=questrade.com; spf=pass smtp.mailfrom=questrade.com; dmarc=pass header.from=questrade.com",
		"Important: we're updating our Privacy Policy", "pp-2027"))
	llm := llmfake.New(llmfake.WithFixedReply(llmfake.JSON(map[string]any{
		"human": 0.5, "newsletter": 0.1, "requires_response": false, "priority": "low", "privacy_policy_update": 0.95,
	})))
	defer llm.Close()
	gem := geminifake.New()
	defer gem.Close()
	dir := t.TempDir()
	writeExampleForTest(t, dir, imap, llm.URL(), gem.URL(), "gm-e2e-edit-key")
	p := start(t, dir)
	p.waitHealthy(t)
	waitCycleDone(t, p, dir, triggerCheck(t, p))
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := len(gem.Requests()); n != 1 {
		t.Fatalf("%d Gemini requests after the first check, want 1", n)
	}

	// The user adds an unrelated rule to the inbox and restarts Steward.
	path := filepath.Join(dir, "config.yaml")
	doc := readYAML(t, path)
	var email *yaml.Node
	for _, in := range mapGet(t, doc.Content[0], "integrations").Content {
		if mapGet(t, in, "type").Value == "email" {
			email = in
		}
	}
	autos := mapGet(t, mapGet(t, mapGet(t, email, "platforms"), "inbox"), "automations")
	var rule yaml.Node
	if err := yaml.Unmarshal([]byte("when: {domain: example.invalid}\nthen: archive\n"), &rule); err != nil {
		t.Fatal(err)
	}
	autos.Content = append(autos.Content, rule.Content[0])
	writeYAML(t, path, doc)

	q := start(t, dir)
	q.waitHealthy(t)
	waitCycleDone(t, q, dir, triggerCheck(t, q))
	if n := len(gem.Requests()); n != 1 {
		t.Errorf("%d Gemini requests after a rule edit and a second check, want still 1", n)
	}
	q.stop(t)
}
