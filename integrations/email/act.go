package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/integrations/email/message"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
)

// ErrWrongMessage is the refusal of an actor whose message is not the one
// the rules decided on: the UID (or, after INBOX was renumbered, the
// Message-ID) now names a message with other content.
var ErrWrongMessage = errors.New("the message found is not the one the rules decided on")

// OpenActor opens one IMAP session for the whole action list of an item,
// finds the message again by UID (or, after a UIDVALIDITY change, among the
// messages with its Message-ID), fetches it and checks it is the item's
// message: the same
// content digest (for an item collected before digests, the same Message-ID
// and prompt content). A different message is refused — a permanent error
// wrapping ErrWrongMessage and a line in the daily log — before any action
// and before the pipeline writes any intent. A message no longer in INBOX is
// not an error here: moves count as done and a draft or an unsubscribe is not
// performed.
func (p *inbox) OpenActor(ctx context.Context, env platform.Env, it *items.Item) (platform.Actor, error) {
	in, err := env.Integration(it.Integration)
	if err != nil {
		return nil, err
	}
	s, release, err := p.i.o.Pool.Session(ctx, in.ID(), account(in))
	if err != nil {
		return nil, classifyError(err)
	}
	a := &actor{p: p, env: env, in: in, it: it, s: s, release: release}
	f, m, why, err := a.find(ctx)
	switch {
	case errors.Is(err, mailbox.ErrNoSuchMessage):
		a.resolveErr = err
		return a, nil
	case err != nil:
		release(err)
		return nil, classifyError(err)
	case why != "":
		release(nil)
		from, _ := it.Facts[message.FactFromAddress].(string)
		subject, _ := it.Facts[message.FactSubject].(string)
		_ = env.Audit(ctx, audit.Event{Source: in.ID(), Kind: audit.KindBlocked, Integration: in.ID(), Platform: platformName,
			Item: it.Key, ID: "wrong-message:" + it.StoreKey() + ":" + contentDigest(f),
			Text: fmt.Sprintf("Refused to act on email from **%s** — `%s`: uid %d holds another message (%s); nothing done",
				from, message.ShortSubject(subject), f.UID, why)})
		return nil, msg.Permanent(fmt.Errorf("email %s uid %d: %w (%s)", it.Key, f.UID, ErrWrongMessage, why))
	}
	a.uid, a.orig = f.UID, m
	return a, nil
}

// find fetches the item's message and checks it: by its UID while INBOX
// keeps the UIDVALIDITY recorded on the item; after a renumbering, among the
// messages with its Message-ID, the one that passes the check. A message
// that fails the check comes back with why it does.
func (a *actor) find(ctx context.Context) (*mailbox.Fetched, *message.Message, string, error) {
	uid, uidv := itemRef(a.it)
	current, err := a.s.UIDValidity(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	candidates := []uint32{uid}
	if uidv != current || uid == 0 {
		mid, _ := a.it.Facts[message.FactMessageID].(string)
		if candidates, err = a.s.FindAllByMessageID(ctx, mid); err != nil {
			return nil, nil, "", err
		}
		if len(candidates) == 0 {
			return nil, nil, "", msg.Permanent(fmt.Errorf("INBOX was renumbered and no message has Message-ID %q: %w", mid, mailbox.ErrNoSuchMessage))
		}
	}
	var first *mailbox.Fetched
	var firstWhy string
	for _, u := range candidates {
		f, err := a.s.Fetch(ctx, u)
		if err != nil {
			return nil, nil, "", err
		}
		m, err := message.Parse(f.Raw)
		if err != nil {
			return nil, nil, "", msg.Permanent(fmt.Errorf("parse message uid %d: %w", f.UID, err))
		}
		why := verifyMessage(a.it, f, m)
		if why == "" {
			return f, m, "", nil
		}
		if first == nil {
			first, firstWhy = f, why
		}
	}
	return first, nil, firstWhy, nil
}

// verifyMessage returns why the fetched message is not the item's ("" = it
// is).
func verifyMessage(it *items.Item, f *mailbox.Fetched, m *message.Message) string {
	if it.Digest != "" {
		if contentDigest(f) != it.Digest {
			return "its content digest differs from the one recorded at collect"
		}
		return ""
	}
	if !sameLegacyContent(it, m) {
		return "its Message-ID or content differs from what was recorded at collect"
	}
	return ""
}

// The actor keys drafts by their ledger key, so they are exactly once.
var _ platform.KeyedActor = (*actor)(nil)

// actor performs the inbox actions on one message.
type actor struct {
	p          *inbox
	env        platform.Env
	in         *config.Integration
	it         *items.Item
	s          *mailbox.Session
	release    func(error)
	uid        uint32
	resolveErr error
	orig       *message.Message
}

// Close returns the session to the pool.
func (a *actor) Close(err error) { a.release(err) }

// Perform does one action: archive, spam, trash, move_to (moves; a message no
// longer in INBOX counts as moved), draft_reply (APPEND to \Drafts with \Draft),
// unsubscribe (RFC 8058 one-click POST). A folder move marks the item synced.
func (a *actor) Perform(ctx context.Context, act config.Action) (string, error) {
	return a.PerformKeyed(ctx, act, "")
}

// PerformKeyed is Perform for an action the pipeline ledgers under key: a
// draft gets the Message-ID draftMessageID(key), by which Resume finds it.
func (a *actor) PerformKeyed(ctx context.Context, act config.Action, key string) (string, error) {
	var lines []string
	for _, na := range actionsOf(act) {
		line, err := a.performOne(ctx, na[0], na[1], key)
		if err != nil {
			return strings.Join(lines, "; "), err
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "; "), nil
}

// Resumable reports whether Resume can finish act exactly once: it can unless
// act holds an unsubscribe (whether a POST happened cannot be known).
func (a *actor) Resumable(act config.Action) bool {
	for _, na := range actionsOf(act) {
		if na[0] == "unsubscribe" {
			return false
		}
	}
	return true
}

// Resume finishes an action whose earlier attempt under ledger key was
// interrupted (a crash between the intent and its completion): a draft is
// looked for in \Drafts by its Message-ID and APPENDed only when absent; moves
// are idempotent anyway. ok is false, and nothing is done, when the action
// holds an unsubscribe: whether its POST happened cannot be known, so it stays
// at most once.
func (a *actor) Resume(ctx context.Context, act config.Action, key string) (line string, ok bool, err error) {
	if !a.Resumable(act) {
		return "", false, nil
	}
	var lines []string
	for _, na := range actionsOf(act) {
		if na[0] == "draft_reply" {
			found, err := a.s.FindDraft(ctx, draftMessageID(key))
			if err != nil {
				if errors.Is(err, mailbox.ErrNoSpecialUse) {
					return strings.Join(lines, "; "), true, platform.NotPerformed(classifyError(err))
				}
				return strings.Join(lines, "; "), true, classifyError(err)
			}
			if found {
				subject, _ := a.it.Facts[message.FactSubject].(string)
				from, _ := a.it.Facts[message.FactFromAddress].(string)
				lines = append(lines, fmt.Sprintf("Drafted a reply to **%s** — `%s` (found in Drafts after a restart; not appended again)",
					from, message.ShortSubject(message.ReplySubject(subject))))
				continue
			}
		}
		l, err := a.performOne(ctx, na[0], na[1], key)
		if err != nil {
			return strings.Join(lines, "; "), true, err
		}
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; "), true, nil
}

// draftMessageID is the Message-ID of the draft of the action ledgered under
// key ("" = a random one): deterministic, so a draft APPENDed before a crash
// is found again.
func draftMessageID(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "<steward-draft-" + hex.EncodeToString(sum[:16]) + "@steward.invalid>"
}

// performOne does one named inbox action.
func (a *actor) performOne(ctx context.Context, name, arg, key string) (string, error) {
	from, _ := a.it.Facts["from_address"].(string)
	subject, _ := a.it.Facts["subject"].(string)
	switch name {
	case "archive", "spam", "trash", "move_to":
		folder := arg
		var err error
		if name != "move_to" {
			flag := map[string]string{"archive": `\Archive`, "spam": `\Junk`, "trash": `\Trash`}[name]
			if folder, err = a.s.SpecialUse(ctx, flag); err != nil {
				return "", platform.NotPerformed(classifyError(err))
			}
		}
		if err := a.moveTo(ctx, folder); err != nil {
			return "", err
		}
		if _, err := a.env.UpdateItem(ctx, a.it.Integration, a.it.Platform, a.it.Key, func(x *items.Item, exists bool) error {
			if exists {
				x.Status = items.StatusSynced
			}
			return nil
		}); err != nil {
			return "", err
		}
		switch name {
		case "archive":
			return fmt.Sprintf("Archived email from **%s** — `%s` (uid %d)", from, message.ShortSubject(subject), a.uid), nil
		case "spam":
			return fmt.Sprintf("Marked as spam uid=%d subject=%s", a.uid, subject), nil
		case "trash":
			return fmt.Sprintf("Trashed email uid=%d subject=%s", a.uid, subject), nil
		default:
			return fmt.Sprintf("Moved email uid=%d to folder='%s' subject=%s", a.uid, folder, subject), nil
		}
	case "draft_reply":
		orig, err := a.original(ctx)
		if err != nil {
			return "", platform.NotPerformed(err)
		}
		username, _ := a.in.Fields["username"].(string)
		raw := message.BuildDraftWith(orig, message.DraftOptions{Text: arg, From: username, Date: a.env.Now(), MessageID: draftMessageID(key)})
		if _, err := a.s.AppendDraft(ctx, raw, a.env.Now()); err != nil {
			if errors.Is(err, mailbox.ErrNoSpecialUse) {
				return "", platform.NotPerformed(classifyError(err))
			}
			return "", classifyError(err)
		}
		return fmt.Sprintf("Drafted a reply to **%s** — `%s`", orig.From.Address, message.ShortSubject(message.ReplySubject(orig.Subject))), nil
	case "unsubscribe":
		orig, err := a.original(ctx)
		if err != nil {
			return "", platform.NotPerformed(err)
		}
		link, oneClick := message.UnsubscribeURL(orig)
		if !oneClick {
			a.env.Logger().Warn("No one-click unsubscribe available", "subject", subject)
			return fmt.Sprintf("Could not unsubscribe from **%s**: the mail offers no one-click unsubscribe", from), nil
		}
		status, err := message.Unsubscribe(ctx, a.unsubscribeClient(), link)
		if err != nil {
			if errors.Is(err, message.ErrBadUnsubscribeURL) || errors.Is(err, syscall.ECONNREFUSED) || isDialError(err) {
				return "", platform.NotPerformed(msg.Permanent(err))
			}
			return "", err
		}
		if status < 200 || status > 299 {
			return fmt.Sprintf("Unsubscribe request to **%s** answered HTTP %d (not retried)", from, status), nil
		}
		return fmt.Sprintf("Unsubscribed from **%s** (one-click, HTTP %d)", from, status), nil
	}
	return "", msg.Permanent(fmt.Errorf("email inbox: unknown action %q", name))
}

// moveTo moves the message; one already gone from INBOX counts as moved.
func (a *actor) moveTo(ctx context.Context, folder string) error {
	if a.resolveErr != nil {
		if errors.Is(a.resolveErr, mailbox.ErrNoSuchMessage) {
			return nil
		}
		return platform.NotPerformed(classifyError(a.resolveErr))
	}
	if err := a.s.Move(ctx, a.uid, folder); err != nil {
		if errors.Is(err, mailbox.ErrNoSuchMessage) {
			return nil
		}
		return classifyError(err)
	}
	return nil
}

// original fetches and parses the message once per actor.
func (a *actor) original(ctx context.Context) (*message.Message, error) {
	if a.orig != nil {
		return a.orig, nil
	}
	if a.resolveErr != nil {
		return nil, classifyError(a.resolveErr)
	}
	f, err := a.s.Fetch(ctx, a.uid)
	if err != nil {
		return nil, classifyError(err)
	}
	m, err := message.Parse(f.Raw)
	if err != nil {
		return nil, msg.Permanent(err)
	}
	a.orig = m
	return m, nil
}

// unsubscribeClient is the guarded default client unless the integration allows
// private networks.
func (a *actor) unsubscribeClient() *http.Client {
	if a.p.i.o.UnsubscribeClient != nil {
		return a.p.i.o.UnsubscribeClient
	}
	if allow, _ := a.in.Fields["unsubscribe_private_networks"].(bool); allow {
		return &http.Client{Timeout: message.DefaultUnsubscribeTimeout}
	}
	return nil // message.Unsubscribe's guarded default
}

// isDialError reports an error from before the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// actionsOf returns the (name, argument) pairs of an inbox action: one for a
// simple action; one per key of a dict action, a draft_reply before any move (a
// draft needs the original still in INBOX).
func actionsOf(a config.Action) [][2]string {
	if a.Kind != config.ActionDict {
		return [][2]string{{a.Name, ""}}
	}
	var out [][2]string
	for _, k := range a.Keys() {
		pair := [2]string{k, fmt.Sprint(a.Data[k])}
		if k == "draft_reply" {
			out = append([][2]string{pair}, out...)
		} else {
			out = append(out, pair)
		}
	}
	return out
}
