package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The "done when": GET / says ok; POST /integrations/email.personal/run
// returns task ids; the task is in the stream TASKS and the per-priority consumers
// exist. With only gateway and scheduler running, nothing consumes the task, so it
// stays queued for inspection.
func TestRunTriggerAndInspectQueue(t *testing.T) {
	dir := workDir(t, true)
	p := start(t, dir, "--services", "gateway,scheduler")
	p.waitHealthy(t)

	var integrations []map[string]any
	if code := do(t, "GET", p.gateway+"/integrations", &integrations); code != 200 || len(integrations) != 3 {
		t.Fatalf("GET /integrations: %d %v", code, integrations)
	}
	if integrations[0]["id"] != "email.personal" {
		t.Fatalf("%v", integrations[0])
	}
	var run struct {
		TaskIDs []string `json:"task_ids"`
		Status  string   `json:"status"`
	}
	if code := do(t, "POST", p.gateway+"/integrations/email.personal/run", &run); code != 200 || len(run.TaskIDs) != 1 || run.Status != "pending" {
		t.Fatalf("run: %d %+v", code, run)
	}
	var status map[string]any
	if code := do(t, "GET", p.gateway+"/api/tasks/"+run.TaskIDs[0], &status); code != 200 || status["status"] != "pending" || status["type"] != "email.inbox.check" {
		t.Fatalf("status: %d %v", code, status)
	}

	// What `nats stream info TASKS` and `nats consumer ls TASKS` show.
	// The embedded server refuses anonymous clients; its generated seed (what
	// `nats --nkey` uses) lets the CLI in.
	if anon, err := nats.Connect(p.natsURL); err == nil {
		anon.Close()
		t.Fatal("the embedded NATS server accepted an anonymous client")
	}
	nkey, err := nats.NkeyOptionFromSeed(p.natsCreds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(p.natsURL, nkey)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "TASKS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter("tasks.>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.Config.Retention != jetstream.WorkQueuePolicy {
		t.Fatalf("stream state %+v", info.State)
	}
	var subject string
	for s := range info.State.Subjects {
		subject = s
	}
	if !strings.HasPrefix(subject, "tasks.io.5.email.inbox.check.") {
		t.Fatalf("subject %q", subject)
	}
	var names []string
	for n := range stream.ConsumerNames(ctx).Name() {
		names = append(names, n)
	}
	for _, want := range []string{"io_p1", "io_p5", "io_p9", "script_p1", "llm_default_p6"} {
		if !slices.Contains(names, want) {
			t.Errorf("consumer %s missing from %v", want, names)
		}
	}
	kv, err := js.KeyValue(ctx, "tasks")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, run.TaskIDs[0]); err != nil {
		t.Fatalf("status record: %v", err)
	}

	// Errors keep the reference shapes.
	var detail map[string]any
	if code := do(t, "POST", p.gateway+"/integrations/email.nobody/run", &detail); code != 404 || detail["detail"] != "Integration 'email.nobody' not found" {
		t.Fatalf("%d %v", code, detail)
	}
	if code := do(t, "POST", p.gateway+"/integrations/gemini.research/run", &detail); code != 400 {
		t.Fatalf("%d %v", code, detail)
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.out.String())
	}
	// The task survives the restart: it is in the file store.
	p2 := start(t, dir, "--services", "gateway")
	p2.waitHealthy(t)
	if code := do(t, "GET", p2.gateway+"/api/tasks/"+run.TaskIDs[0], &status); code != 200 || status["status"] != "pending" {
		t.Fatalf("after restart: %d %v", code, status)
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// With every service running, the entry task is consumed; it has no handler yet
// (email arrives with its own issue), so it fails with the reference message.
func TestRunAllServicesRecordsOutcome(t *testing.T) {
	dir := workDir(t, true)
	p := start(t, dir)
	p.waitHealthy(t)
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	if code := do(t, "POST", p.gateway+"/integrations/github.work/issues/run", &run); code != 200 || len(run.TaskIDs) != 1 {
		t.Fatalf("%d %v", code, run)
	}
	deadline := time.Now().Add(15 * time.Second)
	var status map[string]any
	for time.Now().Before(deadline) {
		do(t, "GET", p.gateway+"/api/tasks/"+run.TaskIDs[0], &status)
		if status["status"] == "failed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status["status"] != "failed" || status["error"] != "Unknown task type: github.issues.check" {
		t.Fatalf("%v", status)
	}
	// The counters move right after the outcome is recorded: read until they did.
	var metrics string
	for end := time.Now().Add(5 * time.Second); ; {
		resp, err := httpGet(p.gateway + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics = resp
		if strings.Contains(metrics, `steward_tasks_failed_total{type="github.issues.check"} 1`) || time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{`steward_tasks_published_total{type="github.issues.check"} 1`, `steward_tasks_failed_total{type="github.issues.check"} 1`, `steward_queue_depth{lane="io",priority="5"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestExposeWithoutTokenRefusesToStart(t *testing.T) {
	dir := workDir(t, true)
	p := start(t, dir, "--expose")
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("steward started with --expose and no token")
	}
	out := p.out.String()
	if p.exitCode == 0 || !strings.Contains(out, "gateway.token") || !strings.Contains(out, "STEWARD_GATEWAY_TOKEN") {
		t.Fatalf("exit %d:\n%s", p.exitCode, out)
	}
}

func TestExposeWithTokenRequiresBearer(t *testing.T) {
	dir := workDir(t, true)
	q := startEnv(t, dir, []string{"STEWARD_GATEWAY_TOKEN=e2e-secret-token"}, "--expose")
	deadline := time.Now().Add(20 * time.Second)
	var code int
	for time.Now().Before(deadline) {
		if code = statusOf(q.gateway+"/", ""); code == 401 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 401 {
		t.Fatalf("without token: %d\n%s", code, q.out.String())
	}
	if c := statusOf(q.gateway+"/", "e2e-secret-token"); c != 200 {
		t.Fatalf("with token: %d", c)
	}
	if c := statusOf(q.gateway+"/", "wrong"); c != 401 {
		t.Fatalf("wrong token: %d", c)
	}
	if code := q.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(q.out.String(), "e2e-secret-token") {
		t.Fatal("token leaked into the logs")
	}
}

func TestStartsWithoutConfig(t *testing.T) {
	dir := workDir(t, false)
	p := start(t, dir)
	p.waitHealthy(t)
	var integrations []any
	if code := do(t, "GET", p.gateway+"/integrations", &integrations); code != 200 || len(integrations) != 0 {
		t.Fatalf("%d %v", code, integrations)
	}
	if !strings.Contains(p.out.String(), "no config file") {
		t.Fatalf("no notice:\n%s", p.out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "nats")); err != nil {
		t.Fatalf("store dir: %v", err)
	}
	p.stop(t)
}

func TestBadConfigFailsWithFileAndLine(t *testing.T) {
	dir := workDir(t, false)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("llms:\n  default:\n    model: m\nintegrations:\n  - type: email\n    name: me\n    imap_server: x\n    username: u\n    password: p\n    imap_port: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir)
	<-p.done
	out := p.out.String()
	if p.exitCode == 0 || !strings.Contains(out, "config.yaml:10") || !strings.Contains(out, "imap_port") {
		t.Fatalf("exit %d:\n%s", p.exitCode, out)
	}
}

// --dev applies a valid config edit without a restart and keeps the old config on
// an invalid one.
func TestDevReloadsValidEdits(t *testing.T) {
	dir := workDir(t, true)
	p := start(t, dir, "--dev")
	p.waitHealthy(t)
	cfgPath := filepath.Join(dir, "config.yaml")
	orig, _ := os.ReadFile(cfgPath)
	count := func() int {
		var list []any
		do(t, "GET", p.gateway+"/integrations", &list)
		return len(list)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d integrations", n)
	}
	added := strings.Replace(string(orig), "integrations:\n", "integrations:\n  - type: gemini\n    name: second\n    api_key: inline-key\n", 1)
	if added == string(orig) {
		t.Fatal("could not edit the example")
	}
	if err := os.WriteFile(cfgPath, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return count() == 4 })
	if err := os.WriteFile(cfgPath, []byte(added+"\nqueue_policies: {retention: forever}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.out.String(), "config edit rejected") })
	if n := count(); n != 4 {
		t.Fatalf("invalid edit applied: %d", n)
	}
	p.stop(t)
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition never became true")
}
