package mailbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

func TestInboxLimitAndSince(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := time.Date(2020, 1, 15, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ { // old messages: UIDs 1-3
		e.srv.AppendAt(t, "alice", "INBOX", rawMsg(i), old)
	}
	e.put(t, 4, 3)                                                      // recent: UIDs 4-6
	deleted := e.srv.Append(t, "alice", "INBOX", rawMsg(7), `\Deleted`) // not listed
	e.srv.Append(t, "alice", "INBOX", []byte("Subject: no id\r\n\r\nx\r\n"))

	tests := []struct {
		name    string
		limit   int
		since   time.Time
		wantIDs []string // newest first
	}{
		{"all", 0, time.Time{}, []string{"", msgID(6), msgID(5), msgID(4), msgID(3), msgID(2), msgID(1)}},
		{"limit keeps newest", 3, time.Time{}, []string{"", msgID(6), msgID(5)}},
		{"since excludes old", 0, time.Now().AddDate(0, 0, -7), []string{"", msgID(6), msgID(5), msgID(4)}},
		{"since and limit", 2, time.Now().AddDate(0, 0, -7), []string{"", msgID(6)}},
		{"since is a calendar day", 0, old.Add(10 * time.Hour), []string{"", msgID(6), msgID(5), msgID(4), msgID(3), msgID(2), msgID(1)}},
		{"nothing since tomorrow", 0, time.Now().AddDate(0, 0, 2), nil},
	}
	s, _ := e.session(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := s.Inbox(ctx(t), tc.limit, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if st.UIDValidity == 0 {
				t.Error("UIDValidity = 0")
			}
			var got []string
			for i, m := range st.Messages {
				got = append(got, m.MessageID)
				if m.InternalDate.IsZero() || m.Size == 0 {
					t.Errorf("message %d: %+v", i, m)
				}
				if m.UID == deleted {
					t.Errorf("\\Deleted message UID %d listed", deleted)
				}
				if i > 0 && m.UID >= st.Messages[i-1].UID {
					t.Errorf("not newest first: %d after %d", m.UID, st.Messages[i-1].UID)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("message ids = %q, want %q", got, tc.wantIDs)
			}
		})
	}
	if got := e.pool.Logins(); got != 1 {
		t.Errorf("Logins = %d, want 1 for all listings in one session", got)
	}
}

func TestMessageIDCleaning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.srv.Append(t, "alice", "INBOX", []byte("Subject: folded\r\nmessage-id:\r\n   <folded@example.com>  \r\nMessage-ID: <second@example.com>\r\n\r\nx\r\n"))
	s, _ := e.session(t)
	st, err := s.Inbox(ctx(t), 10, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Messages) != 1 || st.Messages[0].MessageID != "<folded@example.com>" {
		t.Fatalf("messages = %+v, want the first, unfolded Message-ID", st.Messages)
	}
}

func TestFetchIsPeekAndBatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.put(t, 1, 3)
	seen := e.srv.Append(t, "alice", "INBOX", rawMsg(9), `\Seen`, `\Flagged`)
	s, _ := e.session(t)

	f, err := s.Fetch(ctx(t), uids[1])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Raw, rawMsg(2)) || f.UID != uids[1] || f.UIDValidity == 0 || f.InternalDate.IsZero() {
		t.Fatalf("Fetch = %+v", f)
	}
	many, err := s.FetchMany(ctx(t), []uint32{seen, uids[0], 999, uids[2], uids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != 3 || many[0].UID != seen || many[1].UID != uids[0] || many[2].UID != uids[2] {
		t.Fatalf("FetchMany order/content wrong: %d messages", len(many))
	}
	if !hasFlag(many[0].Flags, `\Seen`) || !hasFlag(many[0].Flags, `\Flagged`) {
		t.Errorf("flags of seen message = %v", many[0].Flags)
	}
	st, err := s.Inbox(ctx(t), 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Messages {
		if m.UID != seen && hasFlag(m.Flags, `\Seen`) {
			t.Errorf("UID %d became \\Seen", m.UID)
		}
	}
	// Independent of our own client: ask the server.
	for _, m := range e.srv.Messages(t, "alice", "INBOX") {
		if m.UID != seen && m.HasFlag(`\Seen`) {
			t.Errorf("server says UID %d is \\Seen after fetches", m.UID)
		}
	}

	_, err = s.Fetch(ctx(t), 999)
	if !errors.Is(err, mailbox.ErrNoSuchMessage) || !errors.Is(err, mailbox.ErrPermanent) {
		t.Fatalf("Fetch(999) error = %v, want ErrNoSuchMessage (permanent)", err)
	}
	if got := e.pool.Logins(); got != 1 {
		t.Errorf("Logins = %d, want 1", got)
	}
}

func TestMove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.WithFolders("Receipts", "Work/Stripe"))
	tests := []struct {
		name       string
		flag       string // special-use flag, or
		folder     string // a named folder
		wantFolder string
		wantKind   error
	}{
		{name: "archive", flag: mailbox.FlagArchive, wantFolder: "Archive"},
		{name: "spam", flag: mailbox.FlagJunk, wantFolder: "Junk"},
		{name: "trash by lower-case flag", flag: "trash", wantFolder: "Trash"},
		{name: "named folder", folder: "Receipts", wantFolder: "Receipts"},
		{name: "nested folder", folder: "Work/Stripe", wantFolder: "Work/Stripe"},
		{name: "missing folder", folder: "Nope", wantKind: mailbox.ErrNoFolder},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uid := e.put(t, 100+i, 1)[0]
			s, release := e.session(t)
			defer release(nil)
			dest := tc.folder
			if tc.flag != "" {
				var err error
				if dest, err = s.SpecialUse(ctx(t), tc.flag); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Move(ctx(t), uid, dest)
			if tc.wantKind != nil {
				if !errors.Is(err, tc.wantKind) || !errors.Is(err, mailbox.ErrPermanent) || !strings.Contains(err.Error(), `"`+dest+`"`) {
					t.Fatalf("Move error = %v, want %v naming %q", err, tc.wantKind, dest)
				}
				if _, err := s.Fetch(ctx(t), uid); err != nil {
					t.Fatalf("session unusable after a missing folder: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			moved := e.srv.Messages(t, "alice", tc.wantFolder)
			if len(moved) != 1 || !bytes.Equal(moved[0].Raw, rawMsg(100+i)) {
				t.Fatalf("%s holds %d messages", tc.wantFolder, len(moved))
			}
			if moved[0].HasFlag(`\Seen`) || moved[0].HasFlag(`\Deleted`) {
				t.Errorf("moved message flags = %v", moved[0].Flags)
			}
			// Again: the UID is gone from INBOX, which callers treat as done.
			if err := s.Move(ctx(t), uid, dest); !errors.Is(err, mailbox.ErrNoSuchMessage) {
				t.Fatalf("second Move error = %v, want ErrNoSuchMessage", err)
			}
			release(nil)
			e.srv.Messages(t, "alice", tc.wantFolder) // still exactly one
			if n := len(e.srv.Messages(t, "alice", tc.wantFolder)); n != 1 {
				t.Fatalf("%s holds %d messages after the repeated move", tc.wantFolder, n)
			}
		})
	}
	if got := e.pool.Logins(); got != 1 {
		t.Errorf("Logins = %d, want 1 (sessions reused)", got)
	}
}

func TestMoveFallbackWithoutMOVE(t *testing.T) {
	t.Parallel()
	caps := "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED SPECIAL-USE"
	t.Run("UIDPLUS", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dovecot.WithConfig("imap_capability = "+caps+" UIDPLUS"))
		keep := e.srv.Append(t, "alice", "INBOX", rawMsg(1), `\Deleted`) // someone else's pending delete
		uid := e.put(t, 2, 1)[0]
		s, _ := e.session(t)
		if err := s.Move(ctx(t), uid, "Archive"); err != nil {
			t.Fatal(err)
		}
		if n := len(e.srv.Messages(t, "alice", "Archive")); n != 1 {
			t.Fatalf("Archive holds %d messages", n)
		}
		inbox := e.srv.Messages(t, "alice", "INBOX")
		if len(inbox) != 1 || inbox[0].UID != keep {
			t.Fatalf("INBOX = %+v: the other \\Deleted message must survive (UID EXPUNGE only)", inbox)
		}
		if err := s.Move(ctx(t), uid, "Archive"); !errors.Is(err, mailbox.ErrNoSuchMessage) {
			t.Fatalf("second Move error = %v", err)
		}
	})
	t.Run("neither MOVE nor UIDPLUS", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, dovecot.WithConfig("imap_capability = "+caps))
		uid := e.put(t, 1, 1)[0]
		s, _ := e.session(t)
		err := s.Move(ctx(t), uid, "Archive")
		if !errors.Is(err, mailbox.ErrConfig) || !errors.Is(err, mailbox.ErrPermanent) {
			t.Fatalf("Move error = %v, want ErrConfig", err)
		}
		if n := len(e.srv.Messages(t, "alice", "INBOX")); n != 1 {
			t.Fatalf("INBOX holds %d messages, want the untouched one", n)
		}
	})
}

func TestMissingSpecialUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dovecot.WithoutSpecialUse(mailbox.FlagArchive, mailbox.FlagDrafts), dovecot.WithFolders("Archive"))
	s, _ := e.session(t)
	tests := []struct {
		flag, want string
	}{
		{mailbox.FlagArchive, `No folder found with special-use flag \Archive: create one or use move_to: "<folder>" instead`},
		{"junk", ""}, // present
		{mailbox.FlagDrafts, `No folder found with special-use flag \Drafts`},
	}
	for _, tc := range tests {
		name, err := s.SpecialUse(ctx(t), tc.flag)
		if tc.want == "" {
			if err != nil || name != "Junk" {
				t.Errorf("SpecialUse(%s) = %q, %v", tc.flag, name, err)
			}
			continue
		}
		if !errors.Is(err, mailbox.ErrNoSpecialUse) || !errors.Is(err, mailbox.ErrPermanent) ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("SpecialUse(%s) error = %v, want it to contain %q", tc.flag, err, tc.want)
		}
	}
	// A folder merely named "Archive" does not count: the flag decides.
	if _, err := s.AppendDraft(ctx(t), rawMsg(1), time.Time{}); !errors.Is(err, mailbox.ErrNoSpecialUse) {
		t.Errorf("AppendDraft without \\Drafts error = %v", err)
	}
}

func TestAppendDraft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s, _ := e.session(t)
	draft := []byte("To: bob@example.com\nFrom: alice@example.com\nSubject: Re: hi\nIn-Reply-To: <m1@example.com>\n\nThanks!\n")
	when := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	uid, err := s.AppendDraft(ctx(t), draft, when)
	if err != nil {
		t.Fatal(err)
	}
	got := e.srv.Messages(t, "alice", "Drafts")
	if len(got) != 1 || got[0].UID != uid || uid == 0 {
		t.Fatalf("Drafts = %+v, uid %d", got, uid)
	}
	want := strings.ReplaceAll(string(draft), "\n", "\r\n")
	if string(got[0].Raw) != want {
		t.Errorf("draft = %q, want %q", got[0].Raw, want)
	}
	if !got[0].HasFlag(`\Draft`) || got[0].HasFlag(`\Seen`) || len(withoutRecent(got[0].Flags)) != 1 {
		t.Errorf("draft flags = %v, want only \\Draft", got[0].Flags)
	}
	if !got[0].InternalDate.Equal(when) {
		t.Errorf("internal date = %v, want %v", got[0].InternalDate, when)
	}
	if n := len(e.srv.Messages(t, "alice", "INBOX")); n != 0 {
		t.Errorf("INBOX holds %d messages: the draft must not land there", n)
	}
}

func TestUIDValidityChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uids := e.put(t, 1, 3)
	s, release := e.session(t)
	st, err := s.Inbox(ctx(t), 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ref := mailbox.Ref{UIDValidity: st.UIDValidity, UID: uids[1], MessageID: msgID(2)}
	if uid, err := s.Resolve(ctx(t), ref); err != nil || uid != uids[1] {
		t.Fatalf("Resolve unchanged = %d, %v", uid, err)
	}
	release(nil)

	// The server renumbers INBOX: recreate it with the same messages in
	// another order (new UIDVALIDITY, other UIDs).
	e.srv.Doveadm(t, "expunge", "-u", "alice", "mailbox", "INBOX", "all")
	e.put(t, 3, 1)
	e.put(t, 1, 2) // message 2 is now UID 6
	e.srv.SetUIDValidity(t, "alice", "INBOX", st.UIDValidity+7)

	s2, _ := e.session(t)
	v, err := s2.UIDValidity(ctx(t))
	if err != nil || v != st.UIDValidity+7 {
		t.Fatalf("UIDValidity = %d, %v", v, err)
	}
	uid, err := s2.Resolve(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s2.Fetch(ctx(t), uid)
	if err != nil || !bytes.Equal(f.Raw, rawMsg(2)) {
		t.Fatalf("re-resolved UID %d fetches another message (%v)", uid, err)
	}
	tests := []struct {
		name string
		ref  mailbox.Ref
		kind error
	}{
		{"gone", mailbox.Ref{UIDValidity: st.UIDValidity, UID: 2, MessageID: "<gone@example.com>"}, mailbox.ErrNoSuchMessage},
		{"no message-id", mailbox.Ref{UIDValidity: st.UIDValidity, UID: 2}, mailbox.ErrNoSuchMessage},
		{"substring is no match", mailbox.Ref{UIDValidity: st.UIDValidity, UID: 2, MessageID: "m2@example.com"}, mailbox.ErrNoSuchMessage},
	}
	for _, tc := range tests {
		if _, err := s2.Resolve(ctx(t), tc.ref); !errors.Is(err, tc.kind) {
			t.Errorf("%s: Resolve error = %v, want %v", tc.name, err, tc.kind)
		}
	}
	if uid, found, err := s2.FindByMessageID(ctx(t), "  "+msgID(3)+"\t"); err != nil || !found {
		t.Errorf("FindByMessageID with whitespace = %d, %v, %v", uid, found, err)
	}
}

// withoutRecent drops the session-only \Recent flag.
func withoutRecent(flags []string) []string {
	var out []string
	for _, f := range flags {
		if f != `\Recent` {
			out = append(out, f)
		}
	}
	return out
}
