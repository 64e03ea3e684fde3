package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// Two steward processes serve the LLM lane against one LLM backend (the second
// joins the first's NATS with --nats and serves only llm_*): the backend never
// sees more concurrent requests than llms.default.concurrency, and every item is
// classified.
func TestLLMBoundAcrossTwoProcesses(t *testing.T) {
	fake := llmfake.New(llmfake.WithFixedReply(llmfake.Auto()), llmfake.WithLatency(40*time.Millisecond))
	defer fake.Close()
	dir := workDir(t, true)
	cfgPath := filepath.Join(dir, "config.yaml")
	b, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(b), "base_url: http://localhost:11434", "base_url: "+fake.URL(), 1)
	text = strings.Replace(text, "concurrency: 1 #", "concurrency: 2 #", 1)
	if text == string(b) {
		t.Fatal("could not edit the example config")
	}
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(t, dir)
	a.waitHealthy(t)
	bdir := t.TempDir()
	for _, f := range []string{"config.yaml", "secrets.yaml"} {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		_ = os.WriteFile(filepath.Join(bdir, f), data, 0o600)
	}
	second := startEnv(t, bdir, []string{"STEWARD_NATS_URL=" + a.natsURL, "STEWARD_NATS_CREDENTIALS=" + a.natsCreds}, "--services", "pipeline", "--lanes", "llm_*")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bus, err := msg.Connect(ctx, msg.Options{URL: a.natsURL, Credentials: a.natsCreds, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	const n = 24
	var ids []string
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("<m%d@example.com>", i)
		it := items.Item{Integration: "email.personal", Platform: "inbox", Key: key, Title: fmt.Sprintf("mail %d", i),
			Facts:   map[string]any{"domain": "example.com", "is_unsubscribable": false},
			Content: []items.Field{{Name: "subject", Text: fmt.Sprintf("mail %d", i)}, {Name: "body", Text: "hello"}},
			Status:  items.StatusActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if _, err := bus.Items().Put(ctx, it.StoreKey(), it); err != nil {
			t.Fatal(err)
		}
		p, err := bus.Publish(ctx, msg.Spec{Type: "email.inbox.classify", Lane: "llm_default", Priority: msg.PriorityClassify,
			Payload: map[string]any{"integration": "email.personal", "platform": "inbox", "key": key}, ApplyPolicy: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	for _, id := range ids {
		for {
			st, err := bus.Status(ctx, id)
			if err == nil && (st.Status == msg.StateDone || st.Status == msg.StateFailed) {
				if st.Status != msg.StateDone {
					t.Fatalf("classify %s: %s", id, st.Error)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("classify %s never finished:\n%s\n%s", id, a.out.String(), second.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := fake.MaxConcurrent(); got != 2 {
		t.Fatalf("the LLM saw %d concurrent requests; concurrency is 2", got)
	}
	if len(fake.Requests()) != n {
		t.Fatalf("%d LLM requests for %d items", len(fake.Requests()), n)
	}
	if !strings.Contains(second.out.String(), `"lane":"llm_default"`) {
		t.Fatalf("second process did not serve the LLM lane:\n%s", second.out.String())
	}
	second.stop(t)
	a.stop(t)
}
