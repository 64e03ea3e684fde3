package dovecot_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

const msg = "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hi\r\nMessage-ID: <m1@example.com>\r\n\r\nhello\r\n"

func TestAppendMessagesAndLogins(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	uid := srv.Append(t, "alice", "INBOX", []byte(msg))
	uid2 := srv.AppendAt(t, "alice", "INBOX", []byte(msg), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), `\Seen`)
	if uid == 0 || uid2 != uid+1 {
		t.Fatalf("uids = %d, %d", uid, uid2)
	}
	got := srv.Messages(t, "alice", "INBOX")
	if len(got) != 2 {
		t.Fatalf("got %d messages", len(got))
	}
	if !bytes.Equal(got[0].Raw, []byte(msg)) || got[0].HasFlag(`\Seen`) || !got[1].HasFlag(`\seen`) {
		t.Fatalf("messages = %+v", got)
	}
	if y := got[1].InternalDate.UTC().Year(); y != 2024 {
		t.Fatalf("internal date = %v", got[1].InternalDate)
	}
	if n := srv.Logins(t); n != 0 {
		t.Fatalf("Logins = %d before any client login, want 0 (helpers not counted)", n)
	}
	c := login(t, srv.Addr(), "alice", "secret")
	c.Close()
	if n := srv.Logins(t); n != 1 {
		t.Fatalf("Logins = %d, want 1", n)
	}
}

func TestFoldersUsersAndSpecialUse(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t,
		dovecot.WithUser("carol", "pw1"), dovecot.WithUser("dave", "pw2"),
		dovecot.WithoutSpecialUse(`\Archive`), dovecot.WithFolders("Newsletters", "Work/Stripe"))
	for _, u := range []string{"carol", "dave"} {
		c := login(t, srv.Addr(), u, srv.Password(u))
		list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := map[string]string{}
		for _, m := range list {
			var attrs []string
			for _, a := range m.Attrs {
				attrs = append(attrs, string(a))
			}
			got[m.Mailbox] = strings.Join(attrs, " ")
		}
		for _, want := range []string{"INBOX", "Drafts", "Sent", "Junk", "Trash", "Newsletters", "Work/Stripe"} {
			if _, ok := got[want]; !ok {
				t.Errorf("%s: folder %q missing from %v", u, want, got)
			}
		}
		if _, ok := got["Archive"]; ok {
			t.Errorf("%s: Archive exists although omitted", u)
		}
		if !strings.Contains(got["Drafts"], `\Drafts`) {
			t.Errorf("%s: Drafts attrs = %q", u, got["Drafts"])
		}
	}
	if c, err := imapclient.DialInsecure(srv.Addr(), nil); err == nil {
		if err := c.Login("alice", "secret").Wait(); err == nil {
			t.Error("default user alice exists although WithUser was given")
		}
		c.Close()
	}
}

func TestKickAndUIDValidity(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.Append(t, "alice", "INBOX", []byte(msg))
	c := login(t, srv.Addr(), "alice", "secret")
	defer c.Close()
	srv.Kick(t, "alice")
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after Kick")
	}

	srv.SetUIDValidity(t, "alice", "INBOX", 4242)
	c2 := login(t, srv.Addr(), "alice", "secret")
	defer c2.Close()
	sel, err := c2.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.UIDValidity != 4242 {
		t.Fatalf("UIDVALIDITY = %d, want 4242", sel.UIDValidity)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, dovecot.WithTLS())
	cfg := &tls.Config{RootCAs: srv.CertPool(), ServerName: "127.0.0.1"}
	c, err := imapclient.DialTLS(net.JoinHostPort(srv.Host(), strconv.Itoa(srv.TLSPort())), &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = imapclient.DialStartTLS(srv.Addr(), &imapclient.Options{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestConfigStaysInTempDir(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	conf, err := os.ReadFile(srv.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "/etc/dovecot") || !strings.Contains(string(conf), "ssl = no") {
		t.Fatalf("config:\n%s", conf)
	}
}

func login(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}
