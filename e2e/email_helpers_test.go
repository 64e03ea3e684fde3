package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

// personalEmail is the head of the email tests' config templates, filled in
// by writeEmailConfig: the LLM stand-in at %[1]s, notes and logs in the
// working directory, and the email integration "personal" logging in as
// alice to the Dovecot stand-in at 127.0.0.1:%[2]d. The integration's further
// settings (indented four spaces) follow.
const personalEmail = `llms:
  default:
    base_url: %[1]s
    model: fake
directories:
  notes: notes
  logs: logs
integrations:
  - type: email
    name: personal
    imap_server: 127.0.0.1
    imap_port: %[2]d
    username: alice
    password: !secret pw
`

// writeEmailConfig writes dir/config.yaml, cfgTemplate filled in with the LLM
// stand-in's URL and the IMAP port, and dir/secrets.yaml with Dovecot's
// password as pw.
func writeEmailConfig(t *testing.T, dir, cfgTemplate, llmURL string, imapPort int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(cfgTemplate, llmURL, imapPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte("pw: "+dovecot.DefaultPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// appendNewsletter puts the newsletter fixture of integrations/email into
// alice's INBOX, its one-click unsubscribe pointing at unsubURL+"/unsubscribe".
func appendNewsletter(t *testing.T, imap *dovecot.Server, unsubURL string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "integrations", "email", "message", "testdata", "newsletter.eml"))
	if err != nil {
		t.Fatal(err)
	}
	imap.Append(t, "alice", "INBOX", []byte(strings.ReplaceAll(string(raw), "https://shop.example.com/unsubscribe", unsubURL+"/unsubscribe")))
}
