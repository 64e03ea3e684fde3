package mailbox_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
)

// countingProxy forwards loopback connections to addr and counts the bytes
// the server sends as they pass.
type countingProxy struct {
	ln       net.Listener
	received atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

// Write counts bytes from the server.
func (p *countingProxy) Write(b []byte) (int, error) {
	p.received.Add(int64(len(b)))
	return len(b), nil
}

func newCountingProxy(t *testing.T, addr string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(io.MultiWriter(c, p), s); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// largeMsg is a message of about size bytes (a long text body).
func largeMsg(size int) []byte {
	head := "From: Big <big@example.com>\r\nTo: alice@example.com\r\nSubject: a large mail\r\n" +
		"Message-ID: <big@example.com>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n"
	line := "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
	var b bytes.Buffer
	b.WriteString(head)
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// Audit 10, finding 11: a fetch reads at most MaxFetch bytes of a message
// (BODY.PEEK[]<0.MaxFetch>): a 12 MiB mail is neither sent by the server nor
// held in memory whole, and its real size is reported.
func TestFetchCapsLargeMessage(t *testing.T) {
	e := newEnv(t)
	big := largeMsg(12 << 20)
	small := rawMsg(1)
	uidBig := e.srv.Append(t, "alice", "INBOX", big)
	uidSmall := e.srv.Append(t, "alice", "INBOX", small)
	proxy := newCountingProxy(t, e.srv.Addr())
	e.acct.Port = proxy.port()
	s, _ := e.session(t)
	if _, err := s.UIDValidity(ctx(t)); err != nil { // login and SELECT first
		t.Fatal(err)
	}
	before := proxy.received.Load()
	f, err := s.Fetch(ctx(t), uidBig)
	if err != nil {
		t.Fatal(err)
	}
	sent := proxy.received.Load() - before
	t.Logf("a %d-byte message: %d bytes kept, %d bytes sent by the server", len(big), len(f.Raw), sent)
	if len(f.Raw) != mailbox.MaxFetch || !f.Truncated || f.Size != int64(len(big)) {
		t.Errorf("fetched %d bytes of %d (truncated %v, size %d); want the first %d", len(f.Raw), len(big), f.Truncated, f.Size, mailbox.MaxFetch)
	}
	if !bytes.Equal(f.Raw, big[:mailbox.MaxFetch]) {
		t.Error("the bytes kept are not the message's first ones")
	}
	if sent > mailbox.MaxFetch+64<<10 {
		t.Errorf("the server sent %d bytes for a fetch capped at %d", sent, mailbox.MaxFetch)
	}
	// A message under the cap is read whole.
	f, err = s.Fetch(ctx(t), uidSmall)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Raw, small) || f.Truncated || f.Size != int64(len(small)) {
		t.Errorf("small message: %d bytes, truncated %v, size %d", len(f.Raw), f.Truncated, f.Size)
	}
}

// FindDraft finds a draft by its exact Message-ID (SEARCH HEADER is a
// substring match: a longer id containing it is not it), and leaves INBOX
// usable afterwards.
func TestFindDraft(t *testing.T) {
	e := newEnv(t)
	uid := e.put(t, 1, 1)[0]
	s, _ := e.session(t)
	draft := []byte("From: alice@example.com\r\nTo: bob@example.org\r\nSubject: Re: x\r\n" +
		"Message-ID: <steward-draft-abc@steward.invalid>\r\n\r\nThanks.\r\n")
	if got, err := s.FindDraft(ctx(t), "<steward-draft-abc@steward.invalid>"); err != nil || got {
		t.Fatalf("FindDraft before the APPEND = %v, %v", got, err)
	}
	if _, err := s.AppendDraft(ctx(t), draft, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"<steward-draft-abc@steward.invalid>", true},
		{" <steward-draft-abc@steward.invalid> ", true},
		{"<steward-draft-ab@steward.invalid>", false},
		{"steward-draft-abc", false},
		{"", false},
	} {
		if got, err := s.FindDraft(ctx(t), tt.id); err != nil || got != tt.want {
			t.Errorf("FindDraft(%q) = %v, %v; want %v", tt.id, got, err, tt.want)
		}
	}
	// INBOX is selected again for the next operation.
	f, err := s.Fetch(ctx(t), uid)
	if err != nil || !bytes.Contains(f.Raw, []byte(msgID(1))) {
		t.Fatalf("Fetch after FindDraft: %v", err)
	}
}
