package e2e

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// migratedConfig is a config as migrated from the reference: a custom
// implicit-TLS port and no imap_security; and two rules deciding unsubscribe
// for the same mail, one on facts, one from the LLM tagged !yolo.
const migratedConfig = personalEmail + `    unsubscribe_private_networks: true
    platforms:
      inbox:
        classifications:
          newsletter: is this a newsletter?
        automations:
          - when: {is_unsubscribable: true, to_address: me@example.org}
            then: unsubscribe
          - when: {classification.newsletter: ">=0.9"}
            then: [!yolo unsubscribe, {move_to: Newsletters}]
`

// Issue 11, items 4, 5 and 13 through the real binary: steward connects to
// an implicit-TLS Dovecot on a non-standard port without imap_security
// (and says it detected tls), and two rules deciding unsubscribe for one
// newsletter (one on to_address, one !yolo) send one POST.
func TestEmailMigratedConfigImplicitTLSAndOneUnsubscribe(t *testing.T) {
	imap := dovecot.Start(t, dovecot.WithTLS(), dovecot.WithFolders("Newsletters"))
	if imap.TLSPort() == 993 {
		t.Skip("needs a non-standard port")
	}
	var posts atomic.Int64
	unsub := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		posts.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer unsub.Close()
	fake := llmfake.New(llmfake.WithFixedReply(llmfake.JSON(map[string]any{"newsletter": 0.99})))
	defer fake.Close()

	appendNewsletter(t, imap, unsub.URL)

	dir := t.TempDir()
	writeEmailConfig(t, dir, migratedConfig, fake.URL(), imap.TLSPort())
	// The steward process trusts the test CAs of Dovecot and of the
	// unsubscribe endpoint.
	dovecotCA, err := os.ReadFile(imap.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	bundle := append(dovecotCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: unsub.Certificate().Raw})...)
	if err := os.WriteFile(ca, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startEnv(t, dir, []string{"SSL_CERT_FILE=" + ca})
	p.waitHealthy(t)
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	if code := do(t, "POST", p.gateway+"/integrations/email.personal/run", &run); code != 200 {
		t.Fatalf("run: %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(imap.Messages(t, "alice", "Newsletters")) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the newsletter was never moved:\n%s", p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("%d unsubscribe POSTs, want 1", n)
	}
	want := fmt.Sprintf("IMAP security detected: tls on port %d", imap.TLSPort())
	if n := strings.Count(p.out.String(), want); n != 1 {
		t.Errorf("steward's output has %d × %q, want 1", n, want)
	}
	if strings.Contains(p.out.String(), dovecot.DefaultPassword) {
		t.Error("the IMAP password is in steward's output")
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
