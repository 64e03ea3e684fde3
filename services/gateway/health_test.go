package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/natstest"
)

// TestHealthFollowsNATS: GET / is 200 {"status":"ok"} while the bus is
// connected and 503 {"status":"unavailable", "detail": ...} once the NATS
// server is gone.
func TestHealthFollowsNATS(t *testing.T) {
	srv := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: slog.New(slog.DiscardHandler), Lanes: []string{msg.LaneIO}})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(bus.Close)
	base := startHandler(t, New(Options{Config: staticConfig(testConfig()), Registry: builtin.Registry(), Bus: bus}), config.Secret{})

	status, header, body := do(t, "GET", base+"/", nil, nil)
	if status != 200 || !jsonEqual(t, body, `{"status":"ok"}`) || header.Get("Content-Type") != "application/json" {
		t.Fatalf("connected: GET / = %d %s", status, body)
	}

	srv.Shutdown()
	// The client notices the lost connection on its own schedule: wait for it
	// (a generous bound, not a speed requirement).
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _, body = do(t, "GET", base+"/", nil, nil)
		if status != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != 503 {
		t.Fatalf("NATS down: GET / = %d %s, want 503", status, body)
	}
	var reply struct{ Status, Detail string }
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatal(err)
	}
	t.Logf("NATS down: GET / = %d %s", status, body)
	if reply.Status != "unavailable" || !strings.Contains(reply.Detail, "not connected to NATS") {
		t.Errorf("NATS down: reply %s", body)
	}
}

func TestHealthWithoutBus(t *testing.T) {
	base := startHandler(t, New(Options{}), config.Secret{})
	status, _, body := do(t, "GET", base+"/", nil, nil)
	if status != 503 || !jsonEqual(t, body, `{"status":"unavailable","detail":"no task queue"}`) {
		t.Errorf("GET / = %d %s", status, body)
	}
}
