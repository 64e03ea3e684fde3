package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// testConfig covers every shape the run endpoints resolve.
func testConfig() *config.Config {
	return &config.Config{Integrations: []config.Integration{
		{Type: "email", Name: "personal", HasPlatforms: true,
			Platforms: []config.Platform{{Name: "inbox"}},
			Schedule:  &config.Schedule{Every: "30m", Expr: "*/30 * * * *"}},
		{Type: "github", Name: "my_repos", HasPlatforms: true,
			Platforms: []config.Platform{{Name: "pull_requests"}, {Name: "issues"}}},
		// pull_requests: null in the config file.
		{Type: "github", Name: "issues_only", HasPlatforms: true,
			Platforms: []config.Platform{{Name: "issues"}}},
		// platforms: omitted.
		{Type: "email", Name: "bare"},
		// Every platform block null.
		{Type: "email", Name: "all_null", HasPlatforms: true},
		// A type without platforms.
		{Type: "gemini", Name: "research"},
		// A platform the manifest does not know has no entry task.
		{Type: "email", Name: "odd", HasPlatforms: true,
			Platforms: []config.Platform{{Name: "inbox"}, {Name: "calendar"}}},
		// Only platforms without an entry task.
		{Type: "email", Name: "cal_only", HasPlatforms: true,
			Platforms: []config.Platform{{Name: "calendar"}}},
	}}
}

// env is a gateway served over a real listener, with a real embedded NATS.
type env struct {
	url  string
	bus  *msg.Bus
	logs *syncBuffer
}

// syncBuffer is a goroutine-safe buffer for captured output.
type syncBuffer = logbuf.Buffer

// startBus starts an embedded NATS in a temp dir and connects a bus with metrics
// registered on reg.
func startBus(t *testing.T, reg *prometheus.Registry) *msg.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Server(t)
	var metrics *msg.Metrics
	if reg != nil {
		metrics = msg.NewMetrics(reg)
	}
	bus, err := msg.Connect(ctx, msg.Options{
		Server:  srv,
		Logger:  slog.New(slog.DiscardHandler),
		Lanes:   []string{msg.LaneIO},
		Metrics: metrics,
	})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(bus.Close)
	if reg != nil {
		reg.MustRegister(bus.DepthCollector())
	}
	return bus
}

// startGateway serves the gateway for cfg on 127.0.0.1:0 until the test ends.
func startGateway(t *testing.T, cfg func() *config.Config, token config.Secret) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	bus := startBus(t, reg)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := New(Options{
		Config:   cfg,
		Registry: builtin.Registry(),
		Bus:      bus,
		Metrics:  reg,
		Logger:   logger,
	})
	return &env{url: serveForTest(t, h, token, logger, nil), bus: bus, logs: logs}
}

// serveForTest serves h on 127.0.0.1:0 until the test ends and returns its URL;
// after the server has stopped, also runs after (if any).
func serveForTest(t *testing.T, h http.Handler, token config.Secret, logger *slog.Logger, after func()) string {
	t.Helper()
	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Token: token, Handler: h, Logger: logger})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if after != nil {
			after()
		}
	})
	return srv.URL()
}

// do sends a request and returns the status and body.
func do(t *testing.T, method, url string, body io.Reader, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// jsonEqual compares two JSON texts structurally.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %q", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q", want)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

// staticConfig returns cfg on every call.
func staticConfig(cfg *config.Config) func() *config.Config {
	return func() *config.Config { return cfg }
}

func TestFixedReplies(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"health", "GET", "/", 200, `{"status":"ok"}`},
		{"integrations", "GET", "/integrations", 200, `[
			{"id":"email.personal","name":"personal","type":"email","platforms":["inbox"]},
			{"id":"github.my_repos","name":"my_repos","type":"github","platforms":["pull_requests","issues"]},
			{"id":"github.issues_only","name":"issues_only","type":"github","platforms":["issues"]},
			{"id":"email.bare","name":"bare","type":"email"},
			{"id":"email.all_null","name":"all_null","type":"email","platforms":[]},
			{"id":"gemini.research","name":"research","type":"gemini"},
			{"id":"email.odd","name":"odd","type":"email","platforms":["inbox","calendar"]},
			{"id":"email.cal_only","name":"cal_only","type":"email","platforms":["calendar"]}]`},

		// Step 1: unknown integration, on both forms (before any platform check).
		{"run unknown integration", "POST", "/integrations/email.nope/run", 404,
			`{"detail":"Integration 'email.nope' not found"}`},
		{"run platform of unknown integration", "POST", "/integrations/email.nope/inbox/run", 404,
			`{"detail":"Integration 'email.nope' not found"}`},
		{"run name without type", "POST", "/integrations/personal/run", 404,
			`{"detail":"Integration 'personal' not found"}`},
		// Step 2: no platforms object (omitted, or a type without platforms).
		{"run platforms omitted", "POST", "/integrations/email.bare/run", 400,
			`{"detail":"Integration 'email.bare' has no platforms configured"}`},
		{"run platform, platforms omitted", "POST", "/integrations/email.bare/inbox/run", 400,
			`{"detail":"Integration 'email.bare' has no platforms configured"}`},
		{"run type without platforms", "POST", "/integrations/gemini.research/run", 400,
			`{"detail":"Integration 'gemini.research' has no platforms configured"}`},
		{"run platform of type without platforms", "POST", "/integrations/gemini.research/web/run", 400,
			`{"detail":"Integration 'gemini.research' has no platforms configured"}`},
		// Step 3: unknown and disabled platforms answer alike.
		{"run unknown platform", "POST", "/integrations/email.personal/outbox/run", 404,
			`{"detail":"Platform 'outbox' not configured in 'email.personal'"}`},
		{"run disabled platform", "POST", "/integrations/github.issues_only/pull_requests/run", 404,
			`{"detail":"Platform 'pull_requests' not configured in 'github.issues_only'"}`},
		{"run platform when all null", "POST", "/integrations/email.all_null/inbox/run", 404,
			`{"detail":"Platform 'inbox' not configured in 'email.all_null'"}`},
		// Step 4: configured platform without an entry task.
		{"run platform without entry task", "POST", "/integrations/email.odd/calendar/run", 400,
			`{"detail":"No entry task for email.calendar"}`},
		// Step 5: nothing to start.
		{"run all null", "POST", "/integrations/email.all_null/run", 400,
			`{"detail":"No entry tasks found for enabled platforms in 'email.all_null'"}`},
		{"run only platforms without entry task", "POST", "/integrations/email.cal_only/run", 400,
			`{"detail":"No entry tasks found for enabled platforms in 'email.cal_only'"}`},

		{"unknown task", "GET", "/api/tasks/5_20260101T000000Z_0000000000000000", 404,
			`{"detail":"Task '5_20260101T000000Z_0000000000000000' not found"}`},
		{"unknown route", "GET", "/nope", 404, `{"detail":"Not Found"}`},
		{"unknown nested route", "POST", "/integrations/email.personal/inbox/extra/run", 404, `{"detail":"Not Found"}`},
		{"wrong method on run", "GET", "/integrations/email.personal/run", 405, `{"detail":"Method Not Allowed"}`},
		{"wrong method on platform run", "DELETE", "/integrations/email.personal/inbox/run", 405, `{"detail":"Method Not Allowed"}`},
		{"wrong method on health", "POST", "/", 405, `{"detail":"Method Not Allowed"}`},
		{"wrong method on list", "PUT", "/integrations", 405, `{"detail":"Method Not Allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := do(t, tt.method, e.url+tt.path, nil, nil)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !jsonEqual(t, body, tt.wantBody) {
				t.Errorf("body = %s, want %s", body, tt.wantBody)
			}
		})
	}
}

// runReply is the success reply of the run endpoints.
type runReply struct {
	TaskIDs []string `json:"task_ids"`
	Status  string   `json:"status"`
}

func TestRunPublishesEntryTasks(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	type entry struct{ typ, integration, platform string }
	tests := []struct {
		name string
		path string
		want []entry
	}{
		{"all platforms in manifest order", "/integrations/github.my_repos/run", []entry{
			{"github.pull_requests.check", "github.my_repos", "pull_requests"},
			{"github.issues.check", "github.my_repos", "issues"},
		}},
		{"disabled platform skipped", "/integrations/github.issues_only/run", []entry{
			{"github.issues.check", "github.issues_only", "issues"},
		}},
		{"platform without entry task skipped", "/integrations/email.odd/run", []entry{
			{"email.inbox.check", "email.odd", "inbox"},
		}},
		{"one platform", "/integrations/github.my_repos/issues/run", []entry{
			{"github.issues.check", "github.my_repos", "issues"},
		}},
		{"single platform integration", "/integrations/email.personal/inbox/run", []entry{
			{"email.inbox.check", "email.personal", "inbox"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "POST", e.url+tt.path, nil, nil)
			if status != 200 {
				t.Fatalf("status = %d, body %s", status, body)
			}
			var got runReply
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != "pending" || len(got.TaskIDs) != len(tt.want) {
				t.Fatalf("reply = %s, want %d task ids and status pending", body, len(tt.want))
			}
			for i, id := range got.TaskIDs {
				checkPendingTask(t, e, id, tt.want[i].typ, map[string]any{
					"type":        tt.want[i].typ,
					"integration": tt.want[i].integration,
					"platform":    tt.want[i].platform,
				})
			}
		})
	}
	if !strings.Contains(e.logs.String(), "No entry task for email.calendar") {
		t.Errorf("no warning for the skipped platform in the logs:\n%s", e.logs)
	}
}

// checkPendingTask reads the task through GET /api/tasks/{id} and checks it is a
// pending priority-5 io task with the payload.
func checkPendingTask(t *testing.T, e *env, id, typ string, payload map[string]any) {
	t.Helper()
	status, _, body := do(t, "GET", e.url+"/api/tasks/"+id, nil, nil)
	if status != 200 {
		t.Fatalf("GET task %s: status %d, body %s", id, status, body)
	}
	var st msg.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("task record: %v (%s)", err, body)
	}
	if st.ID != id || st.Type != typ || st.Status != msg.StatePending || st.Priority != 5 || st.Lane != msg.LaneIO {
		t.Errorf("task record = %s; want id %s type %s pending priority 5 lane io", body, id, typ)
	}
	var got map[string]any
	if err := json.Unmarshal(st.Payload, &got); err != nil {
		t.Fatalf("payload: %v", err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(payload)
	if !bytes.Equal(gb, wb) {
		t.Errorf("payload = %s, want %s", gb, wb)
	}
}

func TestRunBypassesPolicies(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	seen := map[string]bool{}
	for range 3 {
		status, _, body := do(t, "POST", e.url+"/integrations/email.personal/inbox/run", nil, nil)
		if status != 200 {
			t.Fatalf("status = %d, body %s", status, body)
		}
		var got runReply
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.TaskIDs) != 1 || seen[got.TaskIDs[0]] {
			t.Fatalf("reply %s: want one new task id (seen %v)", body, seen)
		}
		seen[got.TaskIDs[0]] = true
	}
	for id := range seen {
		checkPendingTask(t, e, id, "email.inbox.check", map[string]any{
			"type": "email.inbox.check", "integration": "email.personal", "platform": "inbox",
		})
	}
}

func TestConfigReloadApplies(t *testing.T) {
	var current atomic.Pointer[config.Config]
	current.Store(&config.Config{})
	e := startGateway(t, current.Load, config.Secret{})

	status, _, body := do(t, "POST", e.url+"/integrations/email.personal/run", nil, nil)
	if status != 404 {
		t.Fatalf("before reload: status %d, body %s", status, body)
	}
	if status, _, body := do(t, "GET", e.url+"/integrations", nil, nil); status != 200 || !jsonEqual(t, body, `[]`) {
		t.Fatalf("before reload: GET /integrations = %d %s", status, body)
	}
	current.Store(testConfig())
	if status, _, body := do(t, "POST", e.url+"/integrations/email.personal/run", nil, nil); status != 200 {
		t.Fatalf("after reload: status %d, body %s", status, body)
	}
}

func TestMetrics(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	if status, _, body := do(t, "POST", e.url+"/integrations/email.personal/run", nil, nil); status != 200 {
		t.Fatalf("run: %d %s", status, body)
	}
	status, header, body := do(t, "GET", e.url+"/metrics", nil, nil)
	if status != 200 {
		t.Fatalf("status = %d", status)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		`steward_tasks_published_total{type="email.inbox.check"} 1`,
		`steward_queue_depth`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestMetricsUnroutedWithoutGatherer(t *testing.T) {
	h := New(Options{Config: staticConfig(testConfig()), Registry: builtin.Registry()})
	srv := startHandler(t, h, config.Secret{})
	status, _, body := do(t, "GET", srv+"/metrics", nil, nil)
	if status != 404 || !jsonEqual(t, body, `{"detail":"Not Found"}`) {
		t.Errorf("GET /metrics = %d %s, want 404", status, body)
	}
}

// startHandler serves h on 127.0.0.1:0 until the test ends and returns the URL.
func startHandler(t *testing.T, h http.Handler, token config.Secret) string {
	t.Helper()
	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Token: token, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv.URL()
}

func TestBodyLimit(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	tests := []struct {
		name       string
		size       int
		wantStatus int
	}{
		{"small body ignored", 100, 200},
		{"exactly the limit", DefaultMaxBodyBytes, 200},
		{"over the limit", DefaultMaxBodyBytes + 1, 413},
		{"far over the limit", 4 << 20, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "POST", e.url+"/integrations/email.personal/run",
				bytes.NewReader(make([]byte, tt.size)), map[string]string{"Content-Type": "application/json"})
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", status, tt.wantStatus, body)
			}
			if tt.wantStatus == 413 && !jsonEqual(t, body, `{"detail":"Request body too large"}`) {
				t.Errorf("body = %s", body)
			}
		})
	}
}

func TestToken(t *testing.T) {
	const token = "s3cr3t-gateway-token"
	e := startGateway(t, staticConfig(testConfig()), config.NewSecret(token, "gateway_token"))
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		wantStatus int
	}{
		{"no header", "GET", "/", "", 401},
		{"wrong token", "GET", "/", "Bearer wrong", 401},
		{"token prefix", "GET", "/", "Bearer " + token[:5], 401},
		{"token with suffix", "GET", "/", "Bearer " + token + "x", 401},
		{"basic scheme", "GET", "/", "Basic " + token, 401},
		{"bare token", "GET", "/", token, 401},
		{"empty bearer", "GET", "/", "Bearer ", 401},
		{"no token on run", "POST", "/integrations/email.personal/run", "", 401},
		{"no token on metrics", "GET", "/metrics", "", 401},
		{"no token on unknown route", "GET", "/nope", "", 401},
		{"right token", "GET", "/", "Bearer " + token, 200},
		{"scheme is case-insensitive", "GET", "/", "bearer " + token, 200},
		{"right token on run", "POST", "/integrations/email.personal/run", "Bearer " + token, 200},
		{"right token on list", "GET", "/integrations", "Bearer " + token, 200},
		{"right token on metrics", "GET", "/metrics", "Bearer " + token, 200},
		{"right token on unknown route", "GET", "/nope", "Bearer " + token, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.auth != "" {
				header["Authorization"] = tt.auth
			}
			status, h, body := do(t, tt.method, e.url+tt.path, nil, header)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", status, tt.wantStatus, body)
			}
			if status == 401 {
				if !jsonEqual(t, body, `{"detail":"Not authenticated"}`) {
					t.Errorf("body = %s", body)
				}
				if h.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
				}
			}
			if bytes.Contains(body, []byte(token)) {
				t.Errorf("reply echoes the token: %s", body)
			}
		})
	}
	if strings.Contains(e.logs.String(), token) {
		t.Errorf("logs contain the token:\n%s", e.logs)
	}
	if !strings.Contains(e.logs.String(), "Unauthenticated request refused") {
		t.Errorf("refused request not logged:\n%s", e.logs)
	}
	if !strings.Contains(e.logs.String(), "HTTP request") {
		t.Errorf("no debug request log:\n%s", e.logs)
	}
}

func TestListenAddress(t *testing.T) {
	h := New(Options{})
	token := config.NewSecret("tok", "gateway_token")
	tests := []struct {
		name     string
		addr     string
		expose   bool
		token    config.Secret
		wantHost string // "" = refused for want of a token
	}{
		{"loopback without token", "127.0.0.1:0", false, config.Secret{}, "127.0.0.1"},
		{"empty host is loopback", ":0", false, config.Secret{}, "127.0.0.1"},
		{"localhost", "localhost:0", false, config.Secret{}, "127.0.0.1"},
		{"expose without token", "127.0.0.1:0", true, config.Secret{}, ""},
		{"all interfaces without token", "0.0.0.0:0", false, config.Secret{}, ""},
		{"expose with token", "127.0.0.1:0", true, token, "0.0.0.0"},
		{"loopback with token", "127.0.0.1:0", false, token, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(ServerOptions{Addr: tt.addr, Expose: tt.expose, Token: tt.token, Handler: h})
			if tt.wantHost == "" {
				if !errors.Is(err, ErrTokenRequired) {
					t.Fatalf("err = %v, want ErrTokenRequired", err)
				}
				for _, want := range []string{"gateway.token", "config.yaml", "token: !secret gateway_token", "STEWARD_GATEWAY_TOKEN"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("NewServer: %v", err)
			}
			defer srv.ln.Close()
			host, _, err := net.SplitHostPort(srv.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			ip := net.ParseIP(host)
			switch tt.wantHost {
			case "0.0.0.0":
				if ip == nil || !ip.IsUnspecified() {
					t.Errorf("listening on %s, want every interface", srv.Addr())
				}
			default:
				if ip == nil || !ip.IsLoopback() {
					t.Errorf("listening on %s, want loopback", srv.Addr())
				}
			}
		})
	}
}

func TestBindAddr(t *testing.T) {
	tests := []struct {
		addr   string
		expose bool
		want   string
	}{
		{"", false, "127.0.0.1:6767"},
		{"", true, "0.0.0.0:6767"},
		{":8080", false, "127.0.0.1:8080"},
		{":8080", true, "0.0.0.0:8080"},
		{"127.0.0.1:8080", true, "0.0.0.0:8080"},
		{"192.168.1.2:6767", false, "192.168.1.2:6767"},
		{"[::1]:6767", false, "[::1]:6767"},
	}
	for _, tt := range tests {
		got, err := bindAddr(tt.addr, tt.expose)
		if err != nil || got != tt.want {
			t.Errorf("bindAddr(%q, %v) = %q, %v; want %q", tt.addr, tt.expose, got, err, tt.want)
		}
	}
	if _, err := bindAddr("6767", false); err == nil {
		t.Error("bindAddr accepted an address without a port separator")
	}
}

func TestServeExposeRefusedWithoutToken(t *testing.T) {
	err := Serve(context.Background(), "127.0.0.1:0", config.Secret{}, true, New(Options{}))
	if !errors.Is(err, ErrTokenRequired) {
		t.Fatalf("Serve = %v, want ErrTokenRequired", err)
	}
}

func TestExposedServerNeedsToken(t *testing.T) {
	token := config.NewSecret("exposed-token", "gateway_token")
	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Expose: true, Token: token,
		Handler: New(Options{Config: staticConfig(testConfig())})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	_, port, err := net.SplitHostPort(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + port
	if status, _, _ := do(t, "GET", url+"/integrations", nil, nil); status != 401 {
		t.Errorf("without token: %d, want 401", status)
	}
	if status, _, _ := do(t, "GET", url+"/integrations", nil, map[string]string{"Authorization": "Bearer exposed-token"}); status != 200 {
		t.Errorf("with token: %d, want 200", status)
	}
}

func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusOK)
	})
	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Handler: slow})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	reply := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL() + "/")
		if err != nil {
			reply <- 0
			return
		}
		resp.Body.Close()
		reply <- resp.StatusCode
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v before the request in flight finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if got := <-reply; got != 200 {
		t.Errorf("request in flight got %d, want 200", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := http.Get(srv.URL() + "/"); err == nil {
		t.Error("server still accepts requests after shutdown")
	}
}

func TestPanicBecomes500(t *testing.T) {
	logs := &syncBuffer{}
	h := &handler{log: slog.New(slog.NewTextHandler(logs, nil)), maxBody: DefaultMaxBodyBytes}
	boom := h.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	url := startHandler(t, boom, config.Secret{})
	status, _, body := do(t, "GET", url+"/", nil, nil)
	if status != 500 || !jsonEqual(t, body, `{"detail":"Internal Server Error"}`) {
		t.Errorf("reply = %d %s, want 500 JSON", status, body)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

func TestBusUnavailable(t *testing.T) {
	// A gateway whose bus is gone answers 503 JSON rather than hang or panic.
	reg := prometheus.NewRegistry()
	bus := startBus(t, reg)
	bus.Close()
	// Close drains asynchronously: wait until the bus really refuses work.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := bus.Status(context.Background(), "x")
		if err != nil && !errors.Is(err, msg.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bus still answers after Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := startHandler(t, New(Options{Config: staticConfig(testConfig()), Registry: builtin.Registry(), Bus: bus}), config.Secret{})
	for _, path := range []string{"/integrations/email.personal/run"} {
		status, _, body := do(t, "POST", url+path, nil, nil)
		if status != 503 || !jsonEqual(t, body, `{"detail":"Task queue unavailable"}`) {
			t.Errorf("POST %s = %d %s, want 503", path, status, body)
		}
	}
	status, _, body := do(t, "GET", url+"/api/tasks/x", nil, nil)
	if status != 503 || !jsonEqual(t, body, `{"detail":"Task queue unavailable"}`) {
		t.Errorf("GET task = %d %s, want 503", status, body)
	}
}
