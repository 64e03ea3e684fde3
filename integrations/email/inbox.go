package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
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

// Check lists INBOX in one IMAP session and compares it with the known items:
// a new message gets a collect task; a known one gets its flags refreshed and is
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
	byKey := make(map[string]*items.Item, len(known))
	for _, it := range known {
		byKey[it.Key] = it
	}
	classHash := env.ClassificationHash(in.ID(), platformName)
	rulesHash := env.RulesHash(in.ID(), platformName)
	var newCount, reclassify, reevaluate, left int
	seen := map[string]bool{}
	for _, m := range state.Messages {
		key := m.MessageID
		if key == "" {
			key = "imap_" + strconv.FormatUint(uint64(m.UID), 10)
		}
		if seen[key] {
			continue // a duplicate Message-ID: the newest copy speaks for both
		}
		seen[key] = true
		it, ok := byKey[key]
		if !ok {
			if _, err := env.Publish(ctx, msg.Spec{Type: "email.inbox.collect", Priority: msg.PriorityCollect, Lane: msg.LaneIO, ApplyPolicy: true,
				Payload: map[string]any{"integration": in.ID(), "platform": platformName, "key": key, "uid": m.UID, "uidvalidity": state.UIDValidity}}); err != nil {
				return nil, err
			}
			newCount++
			continue
		}
		// Known: refresh what can change while a mail sits in the inbox.
		if changed(it, m, state.UIDValidity) {
			if _, err := env.UpdateItem(ctx, in.ID(), platformName, key, func(x *items.Item, exists bool) error {
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
	Key         string `json:"key"`
	UID         uint32 `json:"uid"`
	UIDValidity uint32 `json:"uidvalidity"`
}

// Collect fetches one message (BODY.PEEK: it stays unread), derives its facts and
// prompt content, saves the item with its note path, logs the discovery and
// queues its classification.
func (p *inbox) Collect(ctx context.Context, env platform.Env, t *msg.Task) (any, error) {
	var pl collectPayload
	if err := t.Decode(&pl); err != nil {
		return nil, err
	}
	if pl.Key == "" || pl.UID == 0 {
		return nil, msg.Permanent(errors.New("email.inbox.collect: payload needs key and uid"))
	}
	in, err := env.Integration(pl.Integration)
	if err != nil {
		return nil, err
	}
	var fetched *mailbox.Fetched
	var uidv uint32
	if err := p.session(ctx, in, func(s *mailbox.Session) error {
		mid := pl.Key
		if len(mid) > 5 && mid[:5] == "imap_" {
			mid = ""
		}
		uid, err := s.Resolve(ctx, mailbox.Ref{UIDValidity: pl.UIDValidity, UID: pl.UID, MessageID: mid})
		if err != nil {
			return err
		}
		if uidv, err = s.UIDValidity(ctx); err != nil {
			return err
		}
		fetched, err = s.Fetch(ctx, uid)
		return err
	}); err != nil {
		if errors.Is(err, mailbox.ErrNoSuchMessage) {
			return map[string]any{"skipped": "message left the inbox before it was collected"}, nil
		}
		return nil, err
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
	facts[factUIDValidity] = float64(uidv)
	var isNew bool
	it, err := env.UpdateItem(ctx, in.ID(), platformName, pl.Key, func(it *items.Item, exists bool) error {
		isNew = !exists
		if exists {
			// Only what can change; the rest was recorded on first sight.
			for _, k := range []string{factUID, factUIDValidity, "is_read", "is_starred", "is_answered"} {
				it.Facts[k] = facts[k]
			}
			return nil
		}
		it.Title = m.Subject
		it.Facts = facts
		it.Content = message.PromptFields(m)
		it.Status = items.StatusActive
		if env.Config().Directories.Notes != "" {
			it.Note = "emails/" + in.Name + "/" + message.NoteFileName(m, fetched.UID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if isNew {
		_ = env.Audit(ctx, audit.Event{Source: in.ID(), Kind: audit.KindDiscovered, Integration: in.ID(), Platform: platformName,
			Item: pl.Key, ID: t.ID + ":discovered",
			Text: fmt.Sprintf("New email from **%s** — `%s` (uid %d)", m.From.Address, message.ShortSubject(m.Subject), fetched.UID)})
	}
	if err := env.QueueClassify(ctx, it, classifyPriority(it.Facts)); err != nil {
		return nil, err
	}
	return map[string]any{"new": isNew, "uid": fetched.UID}, nil
}
