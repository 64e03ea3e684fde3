package email_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// Audit 10, finding 11: a 12 MiB mail is collected from its first
// mailbox.MaxFetch bytes; the item and its note say it was read in part and
// give its real size.
func TestCollectLargeMailReadInPart(t *testing.T) {
	var big bytes.Buffer
	big.WriteString("From: Big <big@example.com>\r\nTo: alice@example.com\r\nSubject: a large mail\r\n" +
		"Message-ID: <big@example.com>\r\nDate: Sat, 15 Feb 2025 10:30:00 +0000\r\n\r\n")
	for big.Len() < 12<<20 {
		big.WriteString("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	}
	w := newWorldWith(t, identityConfigWith("x"), func(w *world) {
		w.imap.Append(t, "alice", "INBOX", big.Bytes())
	}, llmfake.WithReply(identityClassifier))
	w.cycle()
	list := mustItems(t, w)
	if len(list) != 1 {
		t.Fatalf("%d items", len(list))
	}
	it := list[0]
	if it.Facts["truncated"] != true || it.Facts["size"] != float64(big.Len()) {
		t.Errorf("facts truncated=%v size=%v; want true, %d", it.Facts["truncated"], it.Facts["size"], big.Len())
	}
	body := ""
	for _, f := range it.Content {
		if f.Name == "contents" {
			body = f.Text
		}
	}
	if len(body) == 0 || len(body) > mailbox.MaxFetch {
		t.Errorf("prompt body of %d bytes", len(body))
	}
	notes, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "*.md"))
	if len(notes) != 1 {
		t.Fatalf("notes %v", notes)
	}
	note, _ := os.ReadFile(notes[0])
	if !strings.Contains(string(note), "truncated: true") || len(note) > mailbox.MaxFetch+64<<10 {
		t.Errorf("note of %d bytes, truncated recorded: %v", len(note), strings.Contains(string(note), "truncated: true"))
	}
}
