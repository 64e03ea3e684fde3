package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Special-use flags (RFC 6154) the email actions use.
const (
	FlagArchive = `\Archive`
	FlagDrafts  = `\Drafts`
	FlagJunk    = `\Junk`
	FlagSent    = `\Sent`
	FlagTrash   = `\Trash`
	FlagAll     = `\All`
)

// folder is one LIST entry.
type folder struct {
	name  string
	attrs []string
}

// listFolders runs LIST "" "*" (with RETURN (SPECIAL-USE) when the server
// supports it) once per session.
func (s *Session) listFolders(ctx context.Context) ([]folder, error) {
	if s.folders != nil {
		return s.folders, nil
	}
	var out []folder
	err := s.run(ctx, "list folders", func(c *imapclient.Client) error {
		opts := &imap.ListOptions{ReturnSpecialUse: s.cn.caps.Has(imap.CapSpecialUse)}
		list, err := c.List("", "*", opts).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			f := folder{name: l.Mailbox}
			for _, a := range l.Attrs {
				f.attrs = append(f.attrs, string(a))
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.folders = append([]folder{}, out...)
	return s.folders, nil
}

// SpecialUse returns the folder carrying a special-use flag such as
// `\Archive` (the backslash may be omitted; case does not matter). When
// several folders carry it, the first listed wins; folders that cannot be
// selected are ignored. The folder list is read once per session.
//
// When no folder has the flag the error (ErrNoSpecialUse, permanent) names
// the flag and suggests move_to, e.g. `No folder found with special-use flag
// \Archive: create one or use move_to: "<folder>" instead`.
func (s *Session) SpecialUse(ctx context.Context, flag string) (string, error) {
	flag = canonicalFlag(flag)
	folders, err := s.listFolders(ctx)
	if err != nil {
		return "", err
	}
	var all string
	for _, f := range folders {
		if hasAttr(f.attrs, string(imap.MailboxAttrNoSelect)) || hasAttr(f.attrs, string(imap.MailboxAttrNonExistent)) {
			continue
		}
		if hasAttr(f.attrs, flag) {
			return f.name, nil
		}
		if all == "" && hasAttr(f.attrs, FlagAll) {
			all = f.name
		}
	}
	msg := fmt.Sprintf(`No folder found with special-use flag %s: create one or use move_to: "<folder>" instead`, flag)
	switch {
	case flag == FlagDrafts || flag == FlagSent:
		msg = fmt.Sprintf("No folder found with special-use flag %s: create one on the server and mark it %s", flag, flag)
	case flag == FlagArchive && all != "":
		msg += fmt.Sprintf(" (this server has no archive folder but marks %q as %s; on Gmail, "+
			`move_to: %q archives)`, all, FlagAll, all)
	}
	return "", &Error{Op: "find folder " + flag, Account: s.acct.String(), Permanent: true,
		Kind: ErrNoSpecialUse, Msg: msg}
}

// Move moves one INBOX message to folder: UID MOVE, or UID COPY + UID STORE
// \Deleted + UID EXPUNGE of just that UID when the server lacks MOVE but has
// UIDPLUS. A server with neither is refused (ErrConfig): a plain EXPUNGE
// would also purge other messages someone marked \Deleted.
//
// A UID that is no longer in INBOX gives ErrNoSuchMessage (for the caller:
// already moved or deleted, nothing to do). A folder that does not exist
// gives ErrNoFolder naming it; folders are never created.
func (s *Session) Move(ctx context.Context, uid uint32, folder string) error {
	switch {
	case folder == "":
		return &Error{Op: "move", Account: s.acct.String(), Permanent: true, Kind: ErrNoFolder,
			Msg: "no destination folder given"}
	case strings.EqualFold(folder, inbox):
		return &Error{Op: "move", Account: s.acct.String(), Permanent: true, Kind: ErrConfig,
			Msg: "the message is already in INBOX"}
	case uid == 0:
		return s.noSuchMessage("move", uid)
	}
	if err := s.selectInbox(ctx); err != nil {
		return err
	}
	caps := s.cn.caps
	hasMove, hasUIDPlus := caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2), caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2)
	if !hasMove && !hasUIDPlus {
		return &Error{Op: "move", Account: s.acct.String(), Permanent: true, Kind: ErrConfig,
			Msg: "the server supports neither MOVE nor UIDPLUS, so a message cannot be moved without " +
				"expunging other messages marked \\Deleted"}
	}
	if !hasUIDPlus {
		// Without COPYUID in the answer, "nothing moved" cannot be told from
		// success: look first.
		if present, err := s.inInbox(ctx, uid); err != nil || !present {
			if err == nil {
				err = s.noSuchMessage("move", uid)
			}
			return err
		}
	}
	op := fmt.Sprintf("move UID %d to %q", uid, folder)
	return s.run(ctx, op, func(c *imapclient.Client) error {
		data, err := c.Move(imap.UIDSetNum(imap.UID(uid)), folder).Wait()
		if err != nil {
			return s.folderError(op, folder, err)
		}
		if hasUIDPlus && (data == nil || data.DestUIDs == nil || isEmptySet(data.DestUIDs)) {
			return s.noSuchMessage("move", uid)
		}
		return nil
	})
}

// inInbox reports whether uid is in INBOX (UID SEARCH UID n).
func (s *Session) inInbox(ctx context.Context, uid uint32) (bool, error) {
	var present bool
	err := s.run(ctx, "search UID", func(c *imapclient.Client) error {
		data, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(imap.UID(uid))}}, nil).Wait()
		if err != nil {
			return err
		}
		present = len(data.AllUIDs()) > 0
		return nil
	})
	return present, err
}

// AppendDraft stores raw (a complete RFC 5322 message; bare LF line ends are
// sent as CRLF) in the \Drafts special-use folder with the \Draft flag and
// internal date when (zero: now), and returns its UID (0 when the server
// does not report it, i.e. lacks UIDPLUS). It does not send anything.
func (s *Session) AppendDraft(ctx context.Context, raw []byte, when time.Time) (uint32, error) {
	drafts, err := s.SpecialUse(ctx, FlagDrafts)
	if err != nil {
		return 0, err
	}
	if when.IsZero() {
		when = time.Now()
	}
	msg := toCRLF(raw)
	var uid uint32
	op := fmt.Sprintf("append draft to %q", drafts)
	err = s.run(ctx, op, func(c *imapclient.Client) error {
		cmd := c.Append(drafts, int64(len(msg)), &imap.AppendOptions{
			Flags: []imap.Flag{imap.FlagDraft}, Time: when.UTC()})
		if _, err := cmd.Write(msg); err != nil {
			_ = cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			return s.folderError(op, drafts, err)
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid, err
}

// folderError turns a missing-folder answer (TRYCREATE, NONEXISTENT) into
// ErrNoFolder naming the folder; other errors pass through.
func (s *Session) folderError(op, folder string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeTryCreate || ie.Code == imap.ResponseCodeNonExistent) {
		return &Error{Op: op, Account: s.acct.String(), Permanent: true, Kind: ErrNoFolder,
			Msg: fmt.Sprintf("folder %q does not exist on the server (Steward never creates folders: "+
				"create it, or name an existing one in move_to)", folder), Err: err}
	}
	return err
}

// canonicalFlag turns "archive", `\ARCHIVE` or `\Archive` into `\Archive`.
func canonicalFlag(flag string) string {
	name := strings.TrimPrefix(strings.TrimSpace(flag), `\`)
	if name == "" {
		return `\`
	}
	return `\` + strings.ToUpper(name[:1]) + strings.ToLower(name[1:])
}

func hasAttr(attrs []string, want string) bool {
	for _, a := range attrs {
		if strings.EqualFold(a, want) {
			return true
		}
	}
	return false
}

func isEmptySet(set imap.NumSet) bool {
	switch s := set.(type) {
	case imap.UIDSet:
		return len(s) == 0
	case imap.SeqSet:
		return len(s) == 0
	}
	return false
}

// toCRLF turns bare LF line ends into CRLF (IMAP requires CRLF).
func toCRLF(raw []byte) []byte {
	if !bytes.Contains(raw, []byte("\n")) {
		return raw
	}
	var b bytes.Buffer
	b.Grow(len(raw) + bytes.Count(raw, []byte("\n")))
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	return b.Bytes()
}

// FindDraft reports whether the \Drafts folder holds a message whose
// Message-ID header is id (compared after whitespace cleaning; SEARCH HEADER
// is a substring match, so candidates are confirmed). It EXAMINEs the folder
// (read-only); the next INBOX operation SELECTs INBOX again. It is how a
// draft APPENDed just before a crash is found instead of appended twice.
func (s *Session) FindDraft(ctx context.Context, id string) (bool, error) {
	want := cleanHeader(id)
	if want == "" {
		return false, nil
	}
	drafts, err := s.SpecialUse(ctx, FlagDrafts)
	if err != nil {
		return false, err
	}
	var candidates []imap.UID
	op := fmt.Sprintf("search %q for Message-ID", drafts)
	err = s.run(ctx, op, func(c *imapclient.Client) error {
		s.selected = "" // whatever happens, INBOX is no longer selected
		if _, err := c.Select(drafts, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return s.folderError(op, drafts, err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{
			Header:  []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: want}},
			NotFlag: []imap.Flag{imap.FlagDeleted},
		}, nil).Wait()
		if err != nil {
			return err
		}
		candidates = data.AllUIDs()
		if len(candidates) == 0 {
			return nil
		}
		header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
			HeaderFields: []string{"Message-ID"}, Peek: true}
		bufs, err := c.Fetch(imap.UIDSetNum(candidates...), &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{header},
		}).Collect()
		if err != nil {
			return err
		}
		candidates = candidates[:0]
		for _, b := range bufs {
			if messageID(b.FindBodySection(header)) == want {
				candidates = append(candidates, b.UID)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return len(candidates) > 0, nil
}
