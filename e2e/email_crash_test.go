package e2e

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

const crashConfig = personalEmail + `    unsubscribe_private_networks: true
    platforms:
      inbox:
        classifications:
          newsletter: is this a newsletter?
        automations:
          - when: {is_unsubscribable: true, classification.newsletter: ">=0.9"}
            then: [!yolo unsubscribe, {move_to: Newsletters}]
`

// Killing steward in the middle of act (while the one-click unsubscribe POST is
// in flight) and starting it again reaches the same end state — the newsletter
// moved to its folder — and the irreversible unsubscribe is not repeated.
func TestKillMidActNoIrreversibleRepeat(t *testing.T) {
	imap := dovecot.Start(t, dovecot.WithFolders("Newsletters"))
	var posts atomic.Int64
	inFlight := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	unsub := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		posts.Add(1)
		once.Do(func() { close(inFlight) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer unsub.Close()
	defer close(release)
	fake := llmfake.New(llmfake.WithFixedReply(llmfake.JSON(map[string]any{"newsletter": 0.99})))
	defer fake.Close()

	appendNewsletter(t, imap, unsub.URL)

	dir := t.TempDir()
	writeEmailConfig(t, dir, crashConfig, fake.URL(), imap.Port())
	// The steward process trusts the test server's certificate.
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: unsub.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + ca}

	p := startEnv(t, dir, env)
	p.waitHealthy(t)
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	if code := do(t, "POST", p.gateway+"/integrations/email.personal/run", &run); code != 200 {
		t.Fatalf("run: %d", code)
	}
	select {
	case <-inFlight:
	case <-time.After(60 * time.Second):
		t.Fatalf("the unsubscribe POST never came:\n%s", p.out.String())
	}
	// Mid-act: kill -9.
	_ = p.cmd.Process.Kill()
	<-p.done
	if n := len(imap.Messages(t, "alice", "Newsletters")); n != 0 {
		t.Fatalf("the move happened before the kill (%d)", n)
	}

	q := startEnv(t, dir, env)
	q.waitHealthy(t)
	// The act task is redelivered after its ack wait (30 s) and finishes.
	deadline := time.Now().Add(90 * time.Second)
	for len(imap.Messages(t, "alice", "Newsletters")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("newsletter never moved after the restart:\n%s", q.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Another full cycle changes nothing either.
	do(t, "POST", q.gateway+"/integrations/email.personal/run", &run)
	time.Sleep(3 * time.Second)
	if n := posts.Load(); n != 1 {
		t.Fatalf("%d unsubscribe POSTs; the irreversible action was repeated", n)
	}
	if n := len(imap.Messages(t, "alice", "INBOX")); n != 0 {
		t.Fatalf("%d messages left in INBOX", n)
	}
	// The daily log tells the story once: discovered, classified, moved.
	var text []byte
	waitFor(t, func() bool {
		logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.md"))
		if len(logs) != 1 {
			return false
		}
		text, _ = os.ReadFile(logs[0])
		return strings.Contains(string(text), "Moved email")
	})
	for _, want := range []string{"New email from **news@shop.example.com**", "Classified ", "Moved email uid=1 to folder='Newsletters'",
		"Interrupted unsubscribe on `Our spring sale starts now — up to 50% off`: Steward stopped while it ran; not repeated"} {
		if strings.Count(string(text), want) != 1 {
			t.Errorf("daily log has %d × %q:\n%s", strings.Count(string(text), want), want, text)
		}
	}
	if code := q.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
