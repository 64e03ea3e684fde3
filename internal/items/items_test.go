package items

import (
	"strings"
	"testing"
)

func TestStoreKey(t *testing.T) {
	k := StoreKey("email.personal", "inbox", "<abc@example.com>")
	if !strings.HasPrefix(k, "email_personal.inbox._abc_example_com_-") || strings.Count(k, ".") != 2 {
		t.Fatalf("%s", k)
	}
	if StoreKey("email.personal", "inbox", "<a+b@x>") == StoreKey("email.personal", "inbox", "<a_b@x>") {
		t.Fatal("sanitised ids collide")
	}
	it := Item{Integration: "github.work", Platform: "issues", Key: "org/repo#12"}
	if it.StoreKey() != StoreKey("github.work", "issues", "org/repo#12") {
		t.Fatal(it.StoreKey())
	}
	if Prefix("email.personal", "inbox") != "email_personal.inbox.>" {
		t.Fatal(Prefix("email.personal", "inbox"))
	}
}

// Keys minted now get 64-bit tokens; keys stored before keep their 32-bit
// token, so the items stored before the upgrade are found where they are.
func TestStoreKeyVersions(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"v2:0123abcd", "email_personal.inbox.v2_0123abcd=" + KeyToken("v2:0123abcd")[len("v2_0123abcd="):]},
		{"<abc@example.com>", "email_personal.inbox._abc_example_com_-f0c0e7bf"},
		{"imap_42", "email_personal.inbox.imap_42-c2a04e44"},
	}
	for _, tt := range tests {
		if got := StoreKey("email.personal", "inbox", tt.key); got != tt.want {
			t.Errorf("StoreKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := StoreKey("email.personal", "inbox", "v2:x"); !strings.Contains(got, "=") || len(got)-strings.LastIndex(got, "=")-1 != 16 {
		t.Errorf("a v2 key has no 64-bit token: %q", got)
	}
}

func TestKeyToken(t *testing.T) {
	for _, s := range []string{"", "x", "<abc+tag@example.com>", strings.Repeat("é", 500), "a=b", "draft_reply|{\"kind\":1}"} {
		tok := KeyToken(s)
		readable, sum, ok := strings.Cut(tok, "=")
		if !ok || len(sum) != 16 || strings.Contains(readable, "=") || len(readable) > maxReadable {
			t.Errorf("KeyToken(%q) = %q: want <readable>=<16 hex>", s, tok)
		}
		for _, c := range tok {
			if !(c == '_' || c == '-' || c == '=' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				t.Errorf("KeyToken(%q) = %q has %q", s, tok, c)
			}
		}
		if KeyToken(s) != tok {
			t.Errorf("KeyToken(%q) is not deterministic", s)
		}
		// New and legacy tokens never meet: only new ones have '='.
		if strings.Contains(LegacyKeyToken(s), "=") {
			t.Errorf("LegacyKeyToken(%q) = %q has '='", s, LegacyKeyToken(s))
		}
	}
	if KeyToken("<abc+tag@example.com>") == KeyToken("<abc_tag@example.com>") {
		t.Error("sanitised texts share a token")
	}
}

// LegacyKeyToken must give exactly what msg.KeyToken gave before the upgrade
// (golden values computed with it), or stored items and ledger entries are
// not found.
func TestLegacyKeyToken(t *testing.T) {
	golden := map[string]string{
		"<abc@example.com>":        "_abc_example_com_-f0c0e7bf",
		"imap_42":                  "imap_42-c2a04e44",
		"draft_reply|{\"kind\":1}": "draft_reply___kind__1_-b03d6350",
		"日本語\u2028":                "____-72f9eefc",
	}
	for s, want := range golden {
		if got := LegacyKeyToken(s); got != want {
			t.Errorf("LegacyKeyToken(%q) = %q, want %q", s, got, want)
		}
	}
}
