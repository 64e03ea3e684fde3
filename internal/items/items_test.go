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
