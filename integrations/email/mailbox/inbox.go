package mailbox

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// InboxState is what one check sees of INBOX.
type InboxState struct {
	// UIDValidity qualifies every UID below: UIDs remembered under another
	// UIDVALIDITY name other messages (see Session.Resolve).
	UIDValidity uint32
	// Messages are the newest messages, highest UID first.
	Messages []Summary
	// Present holds the UID of every message in INBOX (not marked \Deleted),
	// whatever limit and since cut from Messages: a message remembered under
	// this UIDVALIDITY whose UID is absent has left the inbox.
	Present map[uint32]bool
}

// Summary is one INBOX message as a check lists it (headers only).
type Summary struct {
	UID uint32
	// MessageID is the first Message-ID header with whitespace runs collapsed
	// to one space and trimmed, angle brackets kept; "" when absent.
	MessageID    string
	Flags        []string // e.g. `\Seen`, `\Flagged`, `\Answered`
	InternalDate time.Time
	Size         int64
}

// Ref names a message durably: its UID, the UIDVALIDITY the UID belongs to,
// and its Message-ID for finding it again after a UIDVALIDITY change.
type Ref struct {
	UIDValidity uint32
	UID         uint32
	MessageID   string
}

// Inbox lists INBOX in one round of commands: SELECT (once per session),
// UID SEARCH (messages not marked \Deleted; a second one for an internal
// date on or after since's calendar day when since is not zero), then one UID FETCH of
// FLAGS, INTERNALDATE, RFC822.SIZE and the Message-ID header (BODY.PEEK, so
// nothing is marked read) for the newest limit messages (limit <= 0: all).
// Messages expunged between SEARCH and FETCH are left out.
func (s *Session) Inbox(ctx context.Context, limit int, since time.Time) (*InboxState, error) {
	if err := s.selectInbox(ctx); err != nil {
		return nil, err
	}
	var uids, all []imap.UID
	err := s.run(ctx, "search INBOX", func(c *imapclient.Client) error {
		crit := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
		data, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			return err
		}
		all = data.AllUIDs()
		uids = all
		if !since.IsZero() {
			crit.Since = since
			data, err := c.UIDSearch(crit, nil).Wait()
			if err != nil {
				return err
			}
			uids = data.AllUIDs()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	present := make(map[uint32]bool, len(all))
	for _, u := range all {
		present[uint32(u)] = true
	}
	slices.SortFunc(uids, func(a, b imap.UID) int { return int(int64(b) - int64(a)) })
	if limit > 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	state := &InboxState{UIDValidity: s.uidValidity, Messages: []Summary{}, Present: present}
	if len(uids) == 0 {
		return state, nil
	}

	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
		HeaderFields: []string{"Message-ID"}, Peek: true}
	byUID := make(map[imap.UID]Summary, len(uids))
	err = s.run(ctx, "fetch INBOX headers", func(c *imapclient.Client) error {
		bufs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{header},
		}).Collect()
		if err != nil {
			return err
		}
		for _, b := range bufs {
			byUID[b.UID] = Summary{
				UID:          uint32(b.UID),
				MessageID:    messageID(b.FindBodySection(header)),
				Flags:        flagStrings(b.Flags),
				InternalDate: b.InternalDate,
				Size:         b.RFC822Size,
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, uid := range uids {
		if m, ok := byUID[uid]; ok {
			state.Messages = append(state.Messages, m)
		}
	}
	return state, nil
}

// UIDValidity returns INBOX's current UIDVALIDITY (as of this session's
// SELECT).
func (s *Session) UIDValidity(ctx context.Context) (uint32, error) {
	if err := s.selectInbox(ctx); err != nil {
		return 0, err
	}
	return s.uidValidity, nil
}

// FindByMessageID returns the UID of the INBOX message whose Message-ID
// header is id (compared after the same whitespace cleaning as
// Summary.MessageID; the newest when several match). It is how a UID is
// found again after UIDVALIDITY changed.
func (s *Session) FindByMessageID(ctx context.Context, id string) (uid uint32, found bool, err error) {
	uids, err := s.FindAllByMessageID(ctx, id)
	if err != nil || len(uids) == 0 {
		return 0, false, err
	}
	return uids[0], true, nil
}

// FindAllByMessageID returns the UIDs of every INBOX message (not marked
// \Deleted) whose Message-ID header is id, newest first. Any sender can reuse
// a Message-ID: callers that must act on one particular message check its
// content among these.
func (s *Session) FindAllByMessageID(ctx context.Context, id string) ([]uint32, error) {
	want := cleanHeader(id)
	if want == "" {
		return nil, nil
	}
	if err := s.selectInbox(ctx); err != nil {
		return nil, err
	}
	var candidates []imap.UID
	err := s.run(ctx, "search Message-ID", func(c *imapclient.Client) error {
		data, err := c.UIDSearch(&imap.SearchCriteria{
			Header:  []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: want}},
			NotFlag: []imap.Flag{imap.FlagDeleted},
		}, nil).Wait()
		if err != nil {
			return err
		}
		candidates = data.AllUIDs()
		return nil
	})
	if err != nil || len(candidates) == 0 {
		return nil, err
	}
	// SEARCH HEADER is a substring match: confirm the exact value.
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
		HeaderFields: []string{"Message-ID"}, Peek: true}
	var out []uint32
	err = s.run(ctx, "fetch Message-ID", func(c *imapclient.Client) error {
		bufs, err := c.Fetch(imap.UIDSetNum(candidates...), &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{header},
		}).Collect()
		if err != nil {
			return err
		}
		for _, b := range bufs {
			if messageID(b.FindBodySection(header)) == want {
				out = append(out, uint32(b.UID))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b uint32) int { return int(int64(b) - int64(a)) })
	return out, nil
}

// Resolve returns the current UID of the message ref names. When INBOX still
// has ref's UIDVALIDITY the UID stands (the caller's next operation reports
// ErrNoSuchMessage if the message has gone). When UIDVALIDITY changed, or
// ref does not say which it had, the message is searched by Message-ID;
// without a Message-ID it cannot be identified safely and Resolve returns
// ErrNoSuchMessage rather than risk acting on another message.
func (s *Session) Resolve(ctx context.Context, ref Ref) (uint32, error) {
	current, err := s.UIDValidity(ctx)
	if err != nil {
		return 0, err
	}
	if ref.UIDValidity == current && ref.UID != 0 {
		return ref.UID, nil
	}
	if ref.UIDValidity == 0 && ref.MessageID == "" && ref.UID != 0 {
		return ref.UID, nil // nothing to check against
	}
	uid, found, err := s.FindByMessageID(ctx, ref.MessageID)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, &Error{Op: "resolve", Account: s.acct.String(), Permanent: true, Kind: ErrNoSuchMessage,
			Msg: "UIDVALIDITY changed and the message was not found again by Message-ID " + quoteOrNone(ref.MessageID)}
	}
	return uid, nil
}

func quoteOrNone(id string) string {
	if id == "" {
		return "(it has none)"
	}
	return id
}

// messageID extracts the first Message-ID from a header block, cleaned.
func messageID(header []byte) string {
	var current []byte // unfolded value of the field being read, when it is Message-ID
	inField := false
	for _, line := range bytes.Split(header, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if inField {
				current = append(append(current, ' '), line...)
			}
			continue
		}
		if inField {
			return cleanHeader(string(current))
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(strings.TrimSpace(string(name)), "Message-ID") {
			inField, current = true, append([]byte(nil), value...)
		}
	}
	if inField {
		return cleanHeader(string(current))
	}
	return ""
}

// cleanHeader collapses every run of whitespace to one space and trims.
func cleanHeader(s string) string { return strings.Join(strings.Fields(s), " ") }

func flagStrings(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}
