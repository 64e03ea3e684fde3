package llm_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// testToken is a credential that must never show up in errors or logs.
const testToken = "sk-test-SECRET-7f3a9c"

// newFake starts a fake backend closed at the end of the test.
func newFake(t *testing.T, opts ...llmfake.Option) *llmfake.Server {
	t.Helper()
	s := llmfake.New(opts...)
	t.Cleanup(s.Close)
	return s
}

// profile is a profile for base URL base with a short timeout.
func profile(base string) config.LLMProfile {
	return config.LLMProfile{Name: "default", BaseURL: base, Model: "test-model", Concurrency: 1, Timeout: 5 * time.Second}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLogger logs at level into a buffer.
func newLogger(level slog.Level) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// newClient builds a client or fails the test; logs are discarded unless opts
// set a logger.
func newClient(t *testing.T, p config.LLMProfile, opts ...llm.Option) *llm.Client {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	c, err := llm.NewClient(p, append([]llm.Option{llm.WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// classSchema is a classification-like schema in configuration order.
const classSchema = `{"type":"object","properties":{"human":{"type":"number","minimum":0,"maximum":1},` +
	`"requires_response":{"type":"boolean"},"priority":{"type":"string","enum":["low","high"]}},` +
	`"required":["human","requires_response","priority"]}`

// mustSchema compiles doc or fails the test.
func mustSchema(t *testing.T, doc string) *llm.Schema {
	t.Helper()
	s, err := llm.NewSchema("", []byte(doc))
	if err != nil {
		t.Fatalf("NewSchema: %v", err)
	}
	return s
}
