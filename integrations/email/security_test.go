package email_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// Issue 11, item 4: a config that names a non-standard port and no
// imap_security (as migrated from the reference, which always used implicit
// TLS) works against a Dovecot with implicit TLS on that port, and against
// one with STARTTLS on a non-standard port; the log says which mode was
// detected, once.
func TestAutomaticSecurityOnNonStandardPorts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		port func(*dovecot.Server) int
		want string
	}{
		{"implicit TLS", (*dovecot.Server).TLSPort, "tls"},
		{"STARTTLS", (*dovecot.Server).Port, "starttls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorldOn(t, onceConfig, seedNewsletter, []dovecot.Option{dovecot.WithTLS()}, tc.port,
				llmfake.WithFixedReply(llmfake.JSON(map[string]any{"newsletter": 0.1})))
			if w.imapPort == 993 || w.imapPort == 143 {
				t.Skip("the test needs a non-standard port")
			}
			if strings.Contains(onceConfig, "imap_security") {
				t.Fatal("the config must leave imap_security to the automatic mode")
			}
			w.cycle()
			if list := mustItems(t, w); len(list) != 1 {
				t.Fatalf("%d items, want the newsletter", len(list))
			}
			logs := w.imapLogs.String()
			want := fmt.Sprintf("IMAP security detected: %s on port %d", tc.want, w.imapPort)
			if n := strings.Count(logs, want); n != 1 {
				t.Errorf("the IMAP log has %d × %q, want 1:\n%s", n, want, logs)
			}
			if strings.Contains(logs, "secret") {
				t.Errorf("password in the IMAP log:\n%s", logs)
			}
		})
	}
}
