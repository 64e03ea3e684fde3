package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/integrations/email/message"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
)

// Options configure the email integration.
type Options struct {
	// Pool holds the IMAP connections of this process (nil = a new pool).
	Pool *mailbox.Pool
	// UnsubscribeClient posts one-click unsubscribes (nil = the guarded default,
	// or a plain client for integrations that allow private networks).
	UnsubscribeClient *http.Client
	Logger            *slog.Logger
}

// Integration is the email integration type.
type Integration struct {
	o Options
}

// New returns the email integration.
func New(o Options) *Integration {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Pool == nil {
		// One logged-in connection per account, reused by every task of this
		// process: IMAP commands take milliseconds, so serialising them costs
		// little, and a whole check cycle (check, collects, acts) logs in once.
		o.Pool = mailbox.NewPool(mailbox.PoolOptions{Logger: o.Logger, MaxPerAccount: 1})
	}
	return &Integration{o: o}
}

// Manifest returns the manifest.
func (i *Integration) Manifest() *manifest.Manifest { return Manifest() }

// Platform returns the inbox platform.
func (i *Integration) Platform(name string) platform.Platform {
	if name == "inbox" {
		return &inbox{i: i}
	}
	return nil
}

// Pool is the IMAP connection pool (for benchmarks and shutdown).
func (i *Integration) Pool() *mailbox.Pool { return i.o.Pool }

// inbox is the platform "inbox".
type inbox struct{ i *Integration }

const platformName = "inbox"

// Item facts the platform adds to the message's own.
const (
	factUID         = "uid"
	factUIDValidity = "uidvalidity"
)

// account builds the IMAP account of an integration.
func account(in *config.Integration) mailbox.Account {
	str := func(k string) string { s, _ := in.Fields[k].(string); return s }
	port, _ := in.Fields["imap_port"].(int)
	verify, ok := in.Fields["tls_verify"].(bool)
	if !ok {
		verify = true
	}
	pw := ""
	switch p := in.Fields["password"].(type) {
	case config.Secret:
		pw = p.Reveal()
	case string:
		pw = p
	}
	return mailbox.Account{Host: str("imap_server"), Port: port, Username: str("username"), Password: pw,
		Security: mailbox.Security(str("imap_security")), InsecureSkipVerify: !verify}
}

// classifyError maps mailbox errors to the task layer's kinds.
func classifyError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mailbox.ErrPermanent) {
		return msg.Permanent(err)
	}
	return err
}

// session runs fn with a pooled IMAP session of the integration.
func (p *inbox) session(ctx context.Context, in *config.Integration, fn func(*mailbox.Session) error) error {
	return classifyError(p.i.o.Pool.Do(ctx, in.ID(), account(in), fn))
}

type checkPayload struct {
	Integration string `json:"integration"`
	Limit       *int   `json:"limit"`
	Window      string `json:"window"`
}

// Check lists INBOX in one IMAP session and compares it with the known items
// (by the UIDs collects verified, see identity.go): a message under an
// unknown UID gets a collect task; a known one gets its flags refreshed and is
// classified again when the classification config changed (or evaluated again
// when the rules changed); an item whose message left INBOX is marked synced.
func (p *inbox) Check(ctx context.Context, env platform.Env, t *msg.Task) (any, error) {
	var pl checkPayload
	if err := t.Decode(&pl); err != nil {
		return nil, err
	}
	in, err := env.Integration(pl.Integration)
	if err != nil {
		return nil, err
	}
	pc, ok := in.Platform(platformName)
	if !ok {
		return nil, msg.Permanent(fmt.Errorf("platform inbox is not enabled in %s", in.ID()))
	}
	limit := 50
	if v, ok := pc.Fields["limit"].(int); ok {
		limit = v
	}
	if pl.Limit != nil {
		limit = *pl.Limit
	}
	window, _ := pc.Fields["window"].(string)
	if pl.Window != "" {
		window = pl.Window
	}
	var since time.Time
	if window != "" {
		days, err := message.ParseWindow(window)
		if err != nil {
			return nil, msg.Permanent(err)
		}
		y, m, d := env.Now().Date()
		since = time.Date(y, m, d, 0, 0, 0, 0, time.Local).AddDate(0, 0, -days)
	}
	var state *mailbox.InboxState
	if err := p.session(ctx, in, func(s *mailbox.Session) error {
		var err error
		state, err = s.Inbox(ctx, limit, since)
		return err
	}); err != nil {
		return nil, err
	}
	known, err := env.Items(ctx, in.ID(), platformName)
	if err != nil {
		return nil, err
	}
	// A listed message is a known item only by a reference a collect verified
	// (the UID recorded on the item, or one of its Refs): never by its
	// Message-ID, which the sender chooses.
	byRef := make(map[string]*items.Item, len(known))
	for _, it := range known {
		if uid, uidv := itemRef(it); uid != 0 {
			byRef[mailRef(uidv, uid)] = it
		}
	}
	for _, it := range known {
		for _, r := range it.Refs {
			if _, taken := byRef[r]; !taken {
				byRef[r] = it
			}
		}
	}
	// Message-IDs already in use: a new mail reusing one gets a note of its
	// own (the note name is made of the date and the Message-ID).
	midInUse := map[string]bool{}
	for _, it := range known {
		if id, _ := it.Facts[message.FactMessageID].(string); id != "" {
			midInUse[id] = true
		}
	}
	classHash := env.ClassificationHash(in.ID(), platformName)
	rulesHash := env.RulesHash(in.ID(), platformName)
	var newCount, reclassify, reevaluate, left int
	seen := map[string]bool{}
	for _, m := range state.Messages {
		it, ok := byRef[mailRef(state.UIDValidity, m.UID)]
		if !ok {
			// Unknown UID: a new mail, or a known one moved back or renumbered.
			// The collect tells which by the message's content.
			payload := map[string]any{"integration": in.ID(), "platform": platformName, "uid": m.UID, "uidvalidity": state.UIDValidity}
			if m.MessageID != "" {
				if midInUse[m.MessageID] {
					payload["shared_message_id"] = true
				}
				midInUse[m.MessageID] = true
			}
			if _, err := env.Publish(ctx, msg.Spec{Type: "email.inbox.collect", Priority: msg.PriorityCollect, Lane: msg.LaneIO, ApplyPolicy: true,
				Payload: payload}); err != nil {
				return nil, err
			}
			newCount++
			continue
		}
		if seen[it.Key] {
			continue // an identical copy: the newest speaks for both
		}
		seen[it.Key] = true
		// Known: refresh what can change while a mail sits in the inbox.
		if changed(it, m, state.UIDValidity) {
			if _, err := env.UpdateItem(ctx, in.ID(), platformName, it.Key, func(x *items.Item, exists bool) error {
				if !exists {
					return nil
				}
				x.Facts[factUID] = strconv.FormatUint(uint64(m.UID), 10)
				x.Facts[factUIDValidity] = float64(state.UIDValidity)
				x.Facts["is_read"] = slices.Contains(m.Flags, `\Seen`)
				x.Facts["is_starred"] = slices.Contains(m.Flags, `\Flagged`)
				x.Facts["is_answered"] = slices.Contains(m.Flags, `\Answered`)
				x.Status = items.StatusActive
				return nil
			}); err != nil {
				return nil, err
			}
		}
		switch {
		case it.ClassificationHash != classHash:
			if err := env.QueueClassify(ctx, it, classifyPriority(it.Facts)); err != nil {
				return nil, err
			}
			reclassify++
		case it.RulesHash != rulesHash:
			if err := env.QueueEvaluate(ctx, it); err != nil {
				return nil, err
			}
			reevaluate++
		}
	}
	// Known active items whose message is no longer in INBOX have left it.
	for _, it := range known {
		if it.Status != items.StatusActive || seen[it.Key] {
			continue
		}
		uid, uidv := itemRef(it)
		if uidv != state.UIDValidity || state.Present[uid] {
			continue // can't tell by UID (renumbered) or still there beyond limit/window
		}
		if _, err := env.UpdateItem(ctx, in.ID(), platformName, it.Key, func(x *items.Item, exists bool) error {
			if exists {
				x.Status = items.StatusSynced
			}
			return nil
		}); err != nil {
			return nil, err
		}
		left++
		from, _ := it.Facts["from_address"].(string)
		subject, _ := it.Facts["subject"].(string)
		_ = env.Audit(ctx, audit.Event{Source: in.ID(), Kind: audit.KindLeft, Integration: in.ID(), Platform: platformName, Item: it.Key,
			ID:   t.ID + ":left:" + it.Key,
			Text: fmt.Sprintf("Email from **%s** — `%s` left the inbox", from, message.ShortSubject(subject))})
	}
	env.Logger().Info("email.inbox.check", "integration", in.ID(), "listed", len(state.Messages), "known", len(known),
		"new", newCount, "reclassify", reclassify, "reevaluate", reevaluate, "left", left)
	return map[string]any{"listed": len(state.Messages), "new": newCount, "reclassify": reclassify, "reevaluate": reevaluate, "left": left}, nil
}

// changed reports whether a known item's UID, UIDVALIDITY, flags or status
// differ from what the inbox shows.
func changed(it *items.Item, m mailbox.Summary, uidValidity uint32) bool {
	uid, uidv := itemRef(it)
	b := func(k string) bool { v, _ := it.Facts[k].(bool); return v }
	return uid != m.UID || uidv != uidValidity || it.Status != items.StatusActive ||
		b("is_read") != slices.Contains(m.Flags, `\Seen`) ||
		b("is_starred") != slices.Contains(m.Flags, `\Flagged`) ||
		b("is_answered") != slices.Contains(m.Flags, `\Answered`)
}

// itemRef returns the UID and UIDVALIDITY stored on an item.
func itemRef(it *items.Item) (uint32, uint32) {
	var uid uint64
	switch v := it.Facts[factUID].(type) {
	case string:
		uid, _ = strconv.ParseUint(v, 10, 32)
	case float64:
		uid = uint64(v)
	}
	var uidv uint32
	if v, ok := it.Facts[factUIDValidity].(float64); ok {
		uidv = uint32(v)
	}
	return uint32(uid), uidv
}

// classifyPriority: 6 when DKIM, SPF and DMARC all pass, else 9.
func classifyPriority(facts map[string]any) int {
	auth, _ := facts["authentication"].(map[string]any)
	for _, k := range []string{"dkim_pass", "spf_pass", "dmarc_pass"} {
		if v, _ := auth[k].(bool); !v {
			return msg.PriorityUnauthClassify
		}
	}
	return msg.PriorityClassify
}

type collectPayload struct {
	Integration string `json:"integration"`
	UID         uint32 `json:"uid"`
	UIDValidity uint32 `json:"uidvalidity"`
	// Key is what a check before content identity sent (the Message-ID); it is
	// ignored: the item is found by the message's content.
	Key string `json:"key,omitempty"`
	// SharedMessageID says another item (or another new mail) has the same
	// Message-ID: a new item's note name then ends with its digest, so the two
	// notes never overwrite each other.
	SharedMessageID bool `json:"shared_message_id,omitempty"`
}

// Facts the platform adds for a mail larger than mailbox.MaxFetch.
const (
	factTruncated = "truncated" // true: facts and prompt come from the first MaxFetch bytes
	factSize      = "size"      // the whole message's size in bytes
)

// Collect fetches one message (BODY.PEEK: it stays unread; at most
// mailbox.MaxFetch bytes) and finds its item by content: a new item gets its
// facts, prompt content and note path, a discovery line and its
// classification; an item seen before (the same content under another UID)
// only gets its UID, flags and references refreshed — nothing is classified
// or acted on again.
func (p *inbox) Collect(ctx context.Context, env platform.Env, t *msg.Task) (any, error) {
	var pl collectPayload
	if err := t.Decode(&pl); err != nil {
		return nil, err
	}
	if pl.UID == 0 {
		return nil, msg.Permanent(errors.New("email.inbox.collect: payload needs uid"))
	}
	in, err := env.Integration(pl.Integration)
	if err != nil {
		return nil, err
	}
	var fetched *mailbox.Fetched
	renumbered := false
	if err := p.session(ctx, in, func(s *mailbox.Session) error {
		uidv, err := s.UIDValidity(ctx)
		if err != nil {
			return err
		}
		if pl.UIDValidity != 0 && pl.UIDValidity != uidv {
			renumbered = true // the UID names another message now
			return nil
		}
		fetched, err = s.Fetch(ctx, pl.UID)
		return err
	}); err != nil {
		if errors.Is(err, mailbox.ErrNoSuchMessage) {
			return map[string]any{"skipped": "message left the inbox before it was collected"}, nil
		}
		return nil, err
	}
	if renumbered {
		return map[string]any{"skipped": "INBOX was renumbered (UIDVALIDITY changed) before the collect; the next check lists it again"}, nil
	}
	m, err := message.Parse(fetched.Raw)
	if err != nil {
		return nil, msg.Permanent(fmt.Errorf("parse message uid %d: %w", fetched.UID, err))
	}
	for _, d := range m.Defects {
		env.Logger().Warn("email.inbox.collect: message defect", "integration", in.ID(), "uid", fetched.UID, "defect", d)
	}
	facts := m.Facts(fetched.Flags)
	facts[factUID] = strconv.FormatUint(uint64(fetched.UID), 10)
	facts[factUIDValidity] = float64(fetched.UIDValidity)
	if fetched.Truncated {
		facts[factTruncated] = true
		facts[factSize] = float64(fetched.Size)
		env.Logger().Info("email.inbox.collect: large message read in part", "integration", in.ID(), "uid", fetched.UID,
			"size", fetched.Size, "read", len(fetched.Raw))
	}
	digest := contentDigest(fetched)
	key, err := p.itemKeyOf(ctx, env, in.ID(), digest, m, fetched.UID)
	if err != nil {
		return nil, err
	}
	var isNew bool
	it, err := env.UpdateItem(ctx, in.ID(), platformName, key, func(it *items.Item, exists bool) error {
		isNew = !exists
		if exists {
			// The same message again: only what can change. The rest was
			// recorded on first sight.
			for _, k := range []string{factUID, factUIDValidity, "is_read", "is_starred", "is_answered"} {
				it.Facts[k] = facts[k]
			}
			if it.Digest == "" {
				it.Digest = digest // an item collected before content identity
			}
			addRef(it, fetched.UIDValidity, fetched.UID)
			it.Status = items.StatusActive
			return nil
		}
		it.Title = m.Subject
		it.Facts = facts
		it.Content = message.PromptFields(m)
		it.Status = items.StatusActive
		it.Digest = digest
		addRef(it, fetched.UIDValidity, fetched.UID)
		if env.Config().Directories.Notes != "" {
			name := message.NoteFileName(m, fetched.UID)
			if pl.SharedMessageID {
				name = strings.TrimSuffix(name, ".md") + "__" + strings.TrimPrefix(digest, "sha256:")[:12] + ".md"
			}
			it.Note = "emails/" + in.Name + "/" + name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if isNew {
		_ = env.Audit(ctx, audit.Event{Source: in.ID(), Kind: audit.KindDiscovered, Integration: in.ID(), Platform: platformName,
			Item: key, ID: t.ID + ":discovered",
			Text: fmt.Sprintf("New email from **%s** — `%s` (uid %d)", m.From.Address, message.ShortSubject(m.Subject), fetched.UID)})
	}
	// A known item is classified (and evaluated) again only by a check that
	// sees a changed config — or here when it never was (a crash between
	// saving it and queueing its classification).
	if isNew || it.Classification == nil {
		if err := env.QueueClassify(ctx, it, classifyPriority(it.Facts)); err != nil {
			return nil, err
		}
	}
	return map[string]any{"new": isNew, "uid": fetched.UID, "key": key}, nil
}

// itemKeyOf finds the item a collected message is: the item of its content
// digest; else an item collected before content identity under the
// message's legacy key whose recorded digest matches or, when none was
// recorded, whose recorded Message-ID and prompt content match exactly;
// else a new item under the digest's key.
func (p *inbox) itemKeyOf(ctx context.Context, env platform.Env, integration, digest string, m *message.Message, uid uint32) (string, error) {
	key := contentKey(digest)
	if _, err := env.Item(ctx, integration, platformName, key); err == nil {
		return key, nil
	} else if !errors.Is(err, msg.ErrNotFound) {
		return "", err
	}
	lk := legacyKey(m.MessageID, uid)
	old, err := env.Item(ctx, integration, platformName, lk)
	switch {
	case errors.Is(err, msg.ErrNotFound):
		return key, nil
	case err != nil:
		return "", err
	}
	if old.Digest == digest || (old.Digest == "" && sameLegacyContent(old, m)) {
		return lk, nil
	}
	env.Logger().Warn("email.inbox.collect: a message reuses the Message-ID of another item; collected as a new item",
		"integration", integration, "uid", uid, "item", key)
	return key, nil
}
