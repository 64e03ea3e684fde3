package mailbox

import (
	"context"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Fetched is one whole INBOX message.
type Fetched struct {
	UID          uint32
	UIDValidity  uint32 // INBOX's UIDVALIDITY the UID belongs to
	Raw          []byte // the message as the server serves it (CRLF line ends)
	Flags        []string
	InternalDate time.Time
}

// Fetch returns one INBOX message, read with BODY.PEEK[] so its \Seen flag
// is left alone. A UID that is not in INBOX gives ErrNoSuchMessage.
func (s *Session) Fetch(ctx context.Context, uid uint32) (*Fetched, error) {
	got, err := s.FetchMany(ctx, []uint32{uid})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, s.noSuchMessage("fetch", uid)
	}
	return got[0], nil
}

// FetchMany returns several INBOX messages with one UID FETCH (BODY.PEEK[]),
// in the order of uids; UIDs not in INBOX are left out (not an error). All
// messages are held in memory: callers batch by count.
func (s *Session) FetchMany(ctx context.Context, uids []uint32) ([]*Fetched, error) {
	set := imap.UIDSet{}
	for _, u := range uids {
		if u != 0 {
			set.AddNum(imap.UID(u))
		}
	}
	if len(set) == 0 {
		return nil, nil
	}
	if err := s.selectInbox(ctx); err != nil {
		return nil, err
	}
	body := &imap.FetchItemBodySection{Peek: true}
	byUID := map[uint32]*Fetched{}
	err := s.run(ctx, "fetch", func(c *imapclient.Client) error {
		bufs, err := c.Fetch(set, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil {
			return err
		}
		for _, b := range bufs {
			byUID[uint32(b.UID)] = &Fetched{
				UID:          uint32(b.UID),
				UIDValidity:  s.uidValidity,
				Raw:          b.FindBodySection(body),
				Flags:        flagStrings(b.Flags),
				InternalDate: b.InternalDate,
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Fetched, 0, len(byUID))
	for _, u := range uids {
		if f, ok := byUID[u]; ok {
			out = append(out, f)
			delete(byUID, u) // a UID listed twice is returned once
		}
	}
	return out, nil
}
