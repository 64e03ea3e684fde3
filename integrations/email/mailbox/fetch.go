package mailbox

import (
	"context"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// MaxFetch is how many bytes of a message Fetch reads at most: 2 MiB, the
// headers and the start of the body of any mail a person reads, while a
// 40 MiB attachment is never held in memory. Steward reads the rest of such
// a mail nowhere; its facts and prompt come from the first MaxFetch bytes.
const MaxFetch = 2 << 20

// Fetched is one INBOX message, cut after MaxFetch bytes.
type Fetched struct {
	UID         uint32
	UIDValidity uint32 // INBOX's UIDVALIDITY the UID belongs to
	// Raw is the message as the server serves it (CRLF line ends): all of it,
	// or its first MaxFetch bytes when Truncated.
	Raw []byte
	// Size is the whole message's size (RFC822.SIZE); Truncated reports
	// Size > len(Raw).
	Size         int64
	Truncated    bool
	Flags        []string
	InternalDate time.Time
}

// Fetch returns one INBOX message (its first MaxFetch bytes), read with
// BODY.PEEK[]<0.MaxFetch> so its \Seen flag is left alone. A UID that is not
// in INBOX gives ErrNoSuchMessage.
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

// FetchMany returns several INBOX messages with one UID FETCH
// (BODY.PEEK[]<0.MaxFetch>, RFC822.SIZE), in the order of uids; UIDs not in
// INBOX are left out (not an error). Each message is cut after MaxFetch bytes
// (the server sends no more), so a batch holds at most len(uids) × MaxFetch.
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
	body := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: MaxFetch}}
	byUID := map[uint32]*Fetched{}
	err := s.run(ctx, "fetch", func(c *imapclient.Client) error {
		bufs, err := c.Fetch(set, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true,
			BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil {
			return err
		}
		for _, b := range bufs {
			raw := b.FindBodySection(body)
			byUID[uint32(b.UID)] = &Fetched{
				UID:          uint32(b.UID),
				UIDValidity:  s.uidValidity,
				Raw:          raw,
				Size:         b.RFC822Size,
				Truncated:    b.RFC822Size > int64(len(raw)),
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
