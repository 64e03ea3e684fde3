package client_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/testkit/githubfake"
)

// appKey is one RSA key shared by the tests (generating one costs ~100 ms).
var appKey = sync.OnceValue(githubfake.GenerateKey)

// clock is a settable clock shared by a fake and a client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a fake and a client talking to it.
type env struct {
	fake   *githubfake.Server
	tokens *client.TokenSource
	client *client.Client
	logs   *syncBuffer
	clock  *clock
}

// setup starts a fake with opts and a client for it (PKCS#1 key, shared
// clock, debug logs captured).
func setup(t testing.TB, opts ...githubfake.Option) *env {
	t.Helper()
	clk := newClock()
	fake := githubfake.New(append([]githubfake.Option{githubfake.WithKey(appKey()), githubfake.WithClock(clk.Now)}, opts...)...)
	t.Cleanup(fake.Close)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts, err := client.NewTokenSource(client.TokenOptions{Integration: "github.work", BaseURL: fake.URL(),
		AppID: fake.AppID(), InstallationID: fake.InstallationID(), PrivateKey: fake.PrivateKeyPKCS1(), Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Integration: "github.work", BaseURL: fake.URL(), Tokens: ts, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, tokens: ts, client: c, logs: logs, clock: clk}
}

// secretsIn returns which secrets appear in text: the private key (any
// line of its base64), an issued token, or a JWT.
func (e *env) secretsIn(text string) []string {
	var found []string
	for _, tok := range e.fake.Tokens() {
		if strings.Contains(text, tok) {
			found = append(found, "installation token")
		}
	}
	if strings.Contains(text, "eyJ") { // every JWT starts with base64 of {"
		found = append(found, "JWT")
	}
	for _, pem := range []string{e.fake.PrivateKeyPKCS1(), e.fake.PrivateKeyPKCS8()} {
		lines := strings.Split(pem, "\n")
		if len(lines) > 2 && strings.Contains(text, lines[1][:32]) {
			found = append(found, "private key")
		}
	}
	return found
}

// checkClean fails when err or the logs hold a secret.
func (e *env) checkClean(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		if s := e.secretsIn(err.Error()); len(s) > 0 {
			t.Errorf("error %q holds %v", err, s)
		}
	}
	if s := e.secretsIn(e.logs.String()); len(s) > 0 {
		t.Errorf("logs hold %v", s)
	}
}
