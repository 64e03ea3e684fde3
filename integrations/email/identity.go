package email

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/integrations/email/message"
	"github.com/stewardhq/steward/internal/items"
)

// Item identity (audit 10, finding 4). A mail is an item by its content, not
// by its Message-ID, which any sender chooses: the item key is
// items.KeyPrefix and 128 bits of contentDigest. So
//   - a different message reusing a known Message-ID is another item,
//     collected, classified and noted on its own;
//   - the same message seen again (the same UID, moved out and back, INBOX
//     renumbered) has the same digest, hence the same item: nothing is
//     classified or drafted twice;
//   - two identical copies (same bytes) are one item.
//
// A check recognises a listed message only by a reference a collect verified
// ("<uidvalidity>:<uid>" in Item.Refs, or the UID recorded on an item), and
// the actor compares the digest of the message it is about to touch with the
// item's before acting.
//
// Items collected before (key = Message-ID or imap_<uid>, no Digest) keep
// their key, hence their ledger entries. They are recognised by their
// recorded UID; a copy found under another UID, and the message an actor is
// about to touch, count as theirs only when the message gives exactly the
// Message-ID and prompt content recorded at collect (sameLegacyContent); the
// first such match records the digest on the item.

// contentDigest identifies a fetched message: "sha256:<hex>" of its size and
// of the bytes fetched (all of them, or the first mailbox.MaxFetch). IMAP
// messages are immutable, and a move keeps their bytes.
func contentDigest(f *mailbox.Fetched) string {
	h := sha256.New()
	h.Write([]byte("steward email content v1\n" + strconv.FormatInt(f.Size, 10) + "\n"))
	h.Write(f.Raw)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// contentKey is the item key of a message with that digest.
func contentKey(digest string) string {
	return items.KeyPrefix + strings.TrimPrefix(digest, "sha256:")[:32]
}

// legacyKey is the key Steward gave a message before content identity.
func legacyKey(messageID string, uid uint32) string {
	if messageID == "" {
		return "imap_" + strconv.FormatUint(uint64(uid), 10)
	}
	return messageID
}

// mailRef names one INBOX copy of a message durably.
func mailRef(uidValidity, uid uint32) string {
	return strconv.FormatUint(uint64(uidValidity), 10) + ":" + strconv.FormatUint(uint64(uid), 10)
}

// maxRefs bounds Item.Refs (identical copies of one mail in INBOX).
const maxRefs = 16

// addRef records ref on it, dropping references under another UIDVALIDITY
// (they name nothing any more) and the oldest beyond maxRefs.
func addRef(it *items.Item, uidValidity, uid uint32) {
	prefix := strconv.FormatUint(uint64(uidValidity), 10) + ":"
	refs := slices.DeleteFunc(slices.Clone(it.Refs), func(r string) bool { return !strings.HasPrefix(r, prefix) })
	if r := mailRef(uidValidity, uid); !slices.Contains(refs, r) {
		refs = append(refs, r)
	}
	if len(refs) > maxRefs {
		refs = refs[len(refs)-maxRefs:]
	}
	it.Refs = refs
}

// sameLegacyContent reports whether an item collected before content digests
// holds what m gives: the same Message-ID and the same prompt content (from,
// to, subject, date, body) — the facts the rules and the LLM decided on.
func sameLegacyContent(it *items.Item, m *message.Message) bool {
	if id, _ := it.Facts[message.FactMessageID].(string); id != m.MessageID {
		return false
	}
	return jsonEqual(it.Content, message.PromptFields(m))
}

// jsonEqual compares two values as their JSON encodings decode (a stored
// item's values come back from JSON).
func jsonEqual(a, b any) bool {
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		var out any
		if json.Unmarshal(raw, &out) != nil {
			return nil
		}
		return out
	}
	x, y := norm(a), norm(b)
	return x != nil && reflect.DeepEqual(x, y)
}
