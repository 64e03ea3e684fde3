package email_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/journal"
	"github.com/stewardhq/steward/services/pipeline"
)

// fixtures are the realistic messages of message/testdata put into INBOX.
var fixtures = []string{"newsletter", "invite_past", "invite_future", "noreply_auth", "personal", "reply",
	"forward", "html_only", "latin1", "attachments", "malformed", "injection", "shiftjis"}

const testConfig = fakeLLM + "    concurrency: 2\n" + personalInbox + `        limit: 100
        classifications:
          human: is this a personal email written by a human?
          newsletter: is this a newsletter or marketing email?
          requires_response:
            prompt: does this email require a response from me?
            type: boolean
          priority:
            prompt: what is the priority?
            type: enum
            values: [low, medium, high, critical]
        automations:
          # rule: deterministic only
          - when: {domain: example.net}
            then: archive
          # rule: an invitation that already ended goes to the trash
          - when: {is_calendar_event: true, calendar.end: "< now()"}
            then: trash
          # !yolo on an irreversible action from a hybrid rule
          - when: {is_unsubscribable: true, classification.newsletter: ">=0.9"}
            then: [!yolo unsubscribe]
          # llm, irreversible, no !yolo: disabled by the safety gate
          - when: {classification.newsletter: ">=0.5"}
            then: unsubscribe
          # llm, reversible
          - when: {classification.newsletter: ">=0.9"}
            then: {move_to: Newsletters}
          # hybrid
          - when: {is_noreply: true, classification.requires_response: false}
            then: archive
          # llm: draft once
          - when: {classification.requires_response: true, classification.human: ">=0.8"}
            then: {draft_reply: "Thanks, I'll get back to you soon."}
`

// classifier answers like a plausible model, by what the prompt contains.
func classifier(r llmfake.Request) llmfake.Response {
	p := r.LastUser()
	switch {
	case strings.Contains(p, "spring sale"):
		return llmfake.JSON(map[string]any{"human": 0.02, "newsletter": 0.99, "requires_response": false, "priority": "low"})
	case strings.Contains(p, "Lunch on Thursday"):
		return llmfake.JSON(map[string]any{"human": 0.97, "newsletter": 0.0, "requires_response": true, "priority": "medium"})
	case strings.Contains(p, "ignore previous instructions"):
		// The injection asks for an unsubscribe of everything; the model is fooled
		// into calling it a newsletter, but the mail has no one-click header and the
		// llm-only unsubscribe rule is disabled by the gate.
		return llmfake.JSON(map[string]any{"human": 0.0, "newsletter": 0.95, "requires_response": false, "priority": "critical"})
	}
	return llmfake.JSON(map[string]any{"human": 0.4, "newsletter": 0.1, "requires_response": false, "priority": "low"})
}

type world struct {
	t        testing.TB
	dir      string
	imap     *dovecot.Server
	imapPort int        // the port in the config (Dovecot's plain/STARTTLS port unless set)
	imapLogs *syncedLog // the IMAP pool's log
	fake     *llmfake.Server
	unsub    *httptest.Server
	posts    atomic.Int64
	postsMu  sync.Mutex
	postBody []string
	cfg      *config.Config
	cfgp     atomic.Pointer[config.Config] // the config in force (setConfig swaps it)
	reg      *manifest.Registry
	srv      *msg.Server
	bus      *msg.Bus
	integ    *email.Integration
	engine   *pipeline.Engine
	router   *msg.Router
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// syncedLog collects log output from several goroutines.
type syncedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *syncedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newWorld(t *testing.T) *world {
	return newWorldWith(t, testConfig, func(w *world) {
		for _, name := range fixtures {
			raw, err := os.ReadFile(filepath.Join("message", "testdata", name+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			raw = []byte(strings.ReplaceAll(string(raw), "https://shop.example.com/unsubscribe", w.unsub.URL+"/unsubscribe"))
			w.imap.Append(t, "alice", "INBOX", raw)
		}
	}, llmfake.WithReply(classifier))
}

// newWorldWith starts Dovecot, an LLM stand-in, a TLS unsubscribe endpoint,
// embedded NATS, the pipeline and the journal; seed fills INBOX.
func newWorldWith(t testing.TB, cfgTemplate string, seed func(*world), fakeOpts ...llmfake.Option) *world {
	return newWorldOn(t, cfgTemplate, seed, nil, nil, fakeOpts...)
}

// newWorldOn is newWorldWith with more Dovecot options and the port the
// config names (nil = Dovecot's plain/STARTTLS port).
func newWorldOn(t testing.TB, cfgTemplate string, seed func(*world), imapOpts []dovecot.Option, port func(*dovecot.Server) int,
	fakeOpts ...llmfake.Option) *world {
	w := &world{t: t, dir: t.TempDir(), imapLogs: &syncedLog{}}
	w.imap = dovecot.Start(t, append([]dovecot.Option{dovecot.WithFolders("Newsletters")}, imapOpts...)...)
	w.imapPort = w.imap.Port()
	if port != nil {
		w.imapPort = port(w.imap)
	}
	w.fake = llmfake.New(fakeOpts...)
	t.Cleanup(w.fake.Close)
	w.unsub = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.postsMu.Lock()
		w.postBody = append(w.postBody, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")+" "+string(b))
		w.postsMu.Unlock()
		w.posts.Add(1)
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(w.unsub.Close)
	seed(w)
	reg, err := manifest.NewRegistry(email.Manifest())
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(cfgTemplate, w.fake.URL(), w.dir, w.imapPort)
	w.cfg, err = config.Parse([]byte(text), filepath.Join(w.dir, "config.yaml"), map[string]string{"pw": "secret"},
		config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	w.srv, err = msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: filepath.Join(w.dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.srv.Shutdown)
	w.bus, err = msg.Connect(context.Background(), msg.Options{Server: w.srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		Backoff: []time.Duration{50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.bus.Close)
	pool := mailbox.NewPool(mailbox.PoolOptions{MaxPerAccount: 1, RootCAs: w.imap.CertPool(),
		Logger: slog.New(slog.NewTextHandler(w.imapLogs, nil))})
	w.integ = email.New(email.Options{Pool: pool, UnsubscribeClient: w.unsub.Client(), Logger: quiet()})
	t.Cleanup(func() { _ = w.integ.Pool().Close() })
	w.reg = reg
	w.cfgp.Store(w.cfg)
	w.engine, err = pipeline.NewEngine(pipeline.EngineOptions{Config: w.cfgp.Load, Registry: reg,
		Integrations: []platform.Integration{w.integ}, Bus: w.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	router := msg.NewRouter()
	w.engine.Register(router)
	w.router = router
	svc, err := pipeline.New(pipeline.Options{Bus: w.bus, Router: router, Lanes: pipeline.Lanes(map[string]int{"default": 2}), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.New(journal.Options{Bus: w.bus, LogsDir: w.cfg.Directories.Logs, NotesDir: w.cfg.Directories.Notes, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for _, run := range []func(context.Context) error{svc.Run, j.Run} {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); _ = run(ctx) }()
	}
	t.Cleanup(func() { cancel(); w.wg.Wait() })
	return w
}

// setConfig puts a new config in force (as a reload would).
func (w *world) setConfig(cfgTemplate string) {
	w.t.Helper()
	text := fmt.Sprintf(cfgTemplate, w.fake.URL(), w.dir, w.imapPort)
	cfg, err := config.Parse([]byte(text), filepath.Join(w.dir, "config.yaml"), map[string]string{"pw": "secret"},
		config.LoadOptions{Registry: w.reg, Environ: []string{}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.cfgp.Store(cfg)
}

// cycle runs one check and waits until the queue is idle and the journal has
// caught up.
func (w *world) cycle() {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.bus.Publish(ctx, msg.Spec{Type: "email.inbox.check", Payload: map[string]any{"integration": "email.personal", "platform": "inbox"}})
	if err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		st, _ := w.bus.Status(ctx, p.ID)
		if st != nil && st.Status == msg.StateFailed {
			w.t.Fatalf("check failed: %s", st.Error)
		}
		if st != nil && st.Status == msg.StateDone && w.idle() {
			time.Sleep(1500 * time.Millisecond) // the journal writes asynchronously
			if w.idle() {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatal("cycle did not settle")
}

func (w *world) idle() bool {
	depth, err := w.bus.Depth(context.Background())
	if err != nil {
		return false
	}
	for _, d := range depth {
		if d.Pending > 0 || d.AckPending > 0 {
			return false
		}
	}
	return true
}

func (w *world) folder(name string) []string {
	var subjects []string
	for _, m := range w.imap.Messages(w.t, "alice", name) {
		subjects = append(subjects, headerOf(m.Raw, "Subject"))
	}
	sort.Strings(subjects)
	return subjects
}

// headerOf returns a header's raw value (continuation lines unfolded).
func headerOf(raw []byte, name string) string {
	lines := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			break
		}
		if strings.HasPrefix(strings.ToLower(line), strings.ToLower(name)+":") {
			v := strings.TrimSpace(line[len(name)+1:])
			for _, next := range lines[i+1:] {
				if next == "" || (next[0] != ' ' && next[0] != '\t') {
					break
				}
				v += " " + strings.TrimSpace(next)
			}
			return v
		}
	}
	return ""
}

func TestInboxEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.cycle()

	// Folders.
	if got := w.folder("Archive"); !slices.Equal(got, []string{"Your password was changed", "Your weekly report"}) {
		t.Errorf("Archive = %q", got)
	}
	// The newsletter, and the prompt-injection mail: it fooled the model into
	// calling it a newsletter, which may move it (reversible) but not unsubscribe
	// (irreversible: the llm-only unsubscribe rule is disabled by the gate).
	if got := w.folder("Newsletters"); len(got) != 2 || !strings.Contains(got[0], "spring_sale") || !strings.Contains(got[1], "ignore previous instructions") {
		t.Errorf("Newsletters = %q", got)
	}
	if got := w.folder("Trash"); len(got) != 1 || !strings.Contains(got[0], "Planning") {
		t.Errorf("Trash = %q (want the past invitation)", got)
	}
	inbox := w.folder("INBOX")
	if len(inbox) != len(fixtures)-5 {
		t.Errorf("INBOX has %d: %q", len(inbox), inbox)
	}
	// Nothing was marked read.
	for _, m := range w.imap.Messages(t, "alice", "INBOX") {
		if m.HasFlag(`\Seen`) {
			t.Errorf("message %d marked read", m.UID)
		}
	}
	// Drafts: one per "Lunch" mail, answering it.
	drafts := w.imap.Messages(t, "alice", "Drafts")
	if len(drafts) != 2 {
		t.Fatalf("%d drafts", len(drafts))
	}
	for _, d := range drafts {
		subj, irt, refs := headerOf(d.Raw, "Subject"), headerOf(d.Raw, "In-Reply-To"), headerOf(d.Raw, "References")
		if !strings.HasPrefix(strings.ToLower(subj), "re:") || irt == "" || !strings.Contains(refs, irt) || !d.HasFlag(`\Draft`) ||
			!strings.Contains(string(d.Raw), "Thanks, I'll get back to you soon.") {
			t.Errorf("draft %q in-reply-to %q references %q flags %v", subj, irt, refs, d.Flags)
		}
	}
	// Exactly one one-click unsubscribe POST (the newsletter).
	if w.posts.Load() != 1 {
		t.Fatalf("%d unsubscribe POSTs: %v", w.posts.Load(), w.postBody)
	}
	if body := w.postBody[0]; !strings.HasPrefix(body, "POST /unsubscribe?id=4711") || !strings.HasSuffix(body, "application/x-www-form-urlencoded List-Unsubscribe=One-Click") {
		t.Errorf("POST %q", body)
	}
	// Notes: one per message; moved ones under synced/.
	active, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "*.md"))
	synced, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "synced", "*.md"))
	if len(active)+len(synced) != len(fixtures) || len(synced) != 5 {
		t.Errorf("notes: %d active, %d synced", len(active), len(synced))
	}
	newsletterNotes, _ := filepath.Glob(filepath.Join(w.dir, "notes", "emails", "personal", "synced", "*__20250215102950.news.4711_shop.example.com.md"))
	if len(newsletterNotes) != 1 {
		t.Fatalf("newsletter note: %v", newsletterNotes)
	}
	note, _ := os.ReadFile(newsletterNotes[0])
	for _, want := range []string{"---\n", "from_address: news@shop.example.com", "is_unsubscribable: true", "newsletter: 0.99", "classified_by:", "root_domain: example.com"} {
		if !strings.Contains(string(note), want) {
			t.Errorf("newsletter note lacks %q:\n%s", want, note)
		}
	}
	// Daily log.
	logs, _ := filepath.Glob(filepath.Join(w.dir, "logs", "*.md"))
	if len(logs) != 1 {
		t.Fatalf("logs %v", logs)
	}
	logText, _ := os.ReadFile(logs[0])
	lines := strings.Split(strings.TrimRight(string(logText), "\n"), "\n")
	count := func(prefix string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, prefix) {
				n++
			}
		}
		return n
	}
	if count("New email from") != len(fixtures) || count("Classified ") != len(fixtures) {
		t.Errorf("log: %d discoveries, %d classifications of %d\n%s", count("New email from"), count("Classified "), len(fixtures), logText)
	}
	for want, n := range map[string]int{"Archived email from **NoReply@News.Example.co.uk**": 1, "Unsubscribed from **news@shop.example.com** (one-click, HTTP 200)": 1,
		"Moved email uid=1 to folder='Newsletters'": 1, "Drafted a reply to **": 2, "Trashed email uid=2 subject=": 1, "nsubscribe": 1} {
		if count(want) != n {
			t.Errorf("log has %d × %q, want %d\n%s", count(want), want, n, logText)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, " - ") || l[5] != ':' {
			t.Errorf("log line not in the reference format: %q", l)
		}
	}

	// A second cycle changes nothing: no new draft, no new POST, same folders.
	llmCalls := len(w.fake.Requests())
	w.cycle()
	if n := len(w.imap.Messages(t, "alice", "Drafts")); n != 2 {
		t.Errorf("second cycle: %d drafts", n)
	}
	if w.posts.Load() != 1 {
		t.Errorf("second cycle: %d POSTs", w.posts.Load())
	}
	if got := w.folder("INBOX"); !slices.Equal(got, inbox) {
		t.Errorf("second cycle changed INBOX: %q", got)
	}
	if n := len(w.fake.Requests()); n != llmCalls {
		t.Errorf("second cycle called the LLM %d more times", n-llmCalls)
	}
	if logins := w.integ.Pool().Logins(); logins > 2 {
		t.Errorf("%d IMAP logins for two cycles", logins)
	}

	// The server renumbers INBOX (a new UIDVALIDITY): each message still there
	// is fetched once more and found again by its content (never by its
	// Message-ID alone); nothing is classified, noted or acted on twice.
	w.imap.SetUIDValidity(t, "alice", "INBOX", 4242)
	w.cycle()
	if n := len(w.imap.Messages(t, "alice", "Drafts")); n != 2 {
		t.Errorf("after UIDVALIDITY change: %d drafts", n)
	}
	if w.posts.Load() != 1 {
		t.Errorf("after UIDVALIDITY change: %d POSTs", w.posts.Load())
	}
	if got := w.folder("INBOX"); !slices.Equal(got, inbox) {
		t.Errorf("after UIDVALIDITY change INBOX: %q", got)
	}
	if n := len(w.fake.Requests()); n != llmCalls {
		t.Errorf("after UIDVALIDITY change: %d more LLM calls", n-llmCalls)
	}
	collects, _ := w.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == "email.inbox.collect" })
	if len(collects) != len(fixtures)+len(inbox) {
		t.Errorf("%d collect tasks over three cycles; want one per message and one per renumbered message", len(collects))
	}
	if got := mustItems(t, w); len(got) != len(fixtures) {
		t.Errorf("%d items after the renumbering; want %d", len(got), len(fixtures))
	}
	if logText, _ = os.ReadFile(logs[0]); strings.Count(string(logText), "New email from") != len(fixtures) {
		t.Errorf("after the renumbering the log has %d discoveries, want %d", strings.Count(string(logText), "New email from"), len(fixtures))
	}
	for _, it := range mustItems(t, w) {
		if uv, _ := it.Facts["uidvalidity"].(float64); it.Status == "active" && uv != 4242 {
			t.Errorf("item %s keeps uidvalidity %v", it.Key, it.Facts["uidvalidity"])
		}
	}
}

func mustItems(t *testing.T, w *world) []*items.Item {
	list, err := w.engine.Env().Items(context.Background(), "email.personal", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	return list
}
