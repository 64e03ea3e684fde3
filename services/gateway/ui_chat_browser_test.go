package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// startBrowser starts headless Chromium for the test, phone-sized (375 px
// wide), with a fresh profile and nothing that reaches the internet. A missing
// Chromium fails the test: scripts/test installs it.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("Chromium is not installed: run scripts/test, which installs it " +
			"(or: apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(375, 740),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// within runs the actions with a time limit.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		var page string
		pc, cancel2 := context.WithTimeout(ctx, 2*time.Second)
		defer cancel2()
		page, _ = chromedp.Run(pc, chromedp.Evaluate[string](`document.querySelector('#chat') ? document.querySelector('#chat').innerText : document.body.innerText`))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, page)
	}
}

// waitFor waits until the JavaScript expression is true.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
}

// evalTrue evaluates a JavaScript expression that must be true.
func evalTrue(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := chromedp.Run(c, chromedp.Evaluate[bool](expr))
	if err != nil || !ok {
		t.Errorf("%s: %s is %v (%v)", what, expr, ok, err)
	}
}

// jsString quotes s for JavaScript.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

func TestChatPageInBrowser(t *testing.T) {
	// The answer to reloadQuestion is held until the page has been reloaded.
	const reloadQuestion = "answer me after the reload"
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseReply := func() { releaseOnce.Do(func() { close(release) }) }
	slow := func(r llmfake.Request) llmfake.Response {
		if r.LastUser() == reloadQuestion {
			<-release
		}
		res := fakeAssistant(r)
		res.Delay = 700 * time.Millisecond // long enough to see "thinking…"
		return res
	}
	e := startChatEnv(t, chatEnvOptions{reply: slow})
	t.Cleanup(releaseReply) // before the environment stops (cleanups run last first)
	ctx := startBrowser(t)

	within(t, ctx, 10*time.Second, "open /ui/chat",
		chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile),
		chromedp.Navigate(e.url+"/ui/chat"),
		chromedp.WaitVisible(chromedp.ID("input")),
		waitFor(`document.querySelector('#messages .empty') !== null`),
	)
	evalTrue(t, ctx, "title", `document.title === "Steward — Chat"`)

	// Send with Enter: the user's bubble, "thinking…", then the reply. Markup
	// in a message stays text.
	const hello = "hello <i>there</i>"
	within(t, ctx, 10*time.Second, "send a message and see the reply",
		chromedp.SendKeys(chromedp.ID("input"), hello+kb.Enter),
		waitFor(`document.querySelector('#messages .msg-user') !== null`),
		waitFor(`!document.getElementById('thinking').hidden`),
		waitFor(`[...document.querySelectorAll('#messages .msg-assistant')].some(m => m.textContent === `+jsString("Echo: "+hello)+`)`),
		waitFor(`document.getElementById('thinking').hidden`),
	)
	evalTrue(t, ctx, "user bubble text", `document.querySelector('#messages .msg-user').textContent === `+jsString(hello))
	evalTrue(t, ctx, "no markup from message text", `document.querySelectorAll('#messages i, #messages b').length === 0`)
	evalTrue(t, ctx, "input cleared", `document.getElementById('input').value === ""`)
	evalTrue(t, ctx, "user right, assistant left",
		`getComputedStyle(document.querySelector('#messages .msg-user')).alignSelf === 'flex-end' &&
		 getComputedStyle(document.querySelector('#messages .msg-assistant')).alignSelf === 'flex-start'`)
	evalTrue(t, ctx, "fits a 375 px screen",
		`window.innerWidth === 375 && document.documentElement.scrollWidth <= window.innerWidth &&
		 document.getElementById('send').getBoundingClientRect().right <= 375`)
	evalTrue(t, ctx, "conversation in the address", `/^\?conversation=[0-9a-f]{16}$/.test(location.search)`)
	within(t, ctx, 5*time.Second, "the conversation is listed",
		waitFor(`[...document.querySelectorAll('#conversation option')].some(o => o.value && o.selected && /\(2 messages\)$/.test(o.textContent))`))

	// A proposal: the card, its parameters as text, one button per option.
	within(t, ctx, 10*time.Second, "get a proposal",
		chromedp.SendKeys(chromedp.ID("input"), noteRequest+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#messages .proposal button[data-option="approve"]`)),
	)
	evalTrue(t, ctx, "card content",
		`(() => { const c = document.querySelector('#messages .proposal');
		  return c.querySelector('.proposal-title').textContent === `+jsString(noteDescribe)+` &&
		    [...c.querySelectorAll('dt')].map(d => d.textContent).sort().join(',') === 'body,title' &&
		    [...c.querySelectorAll('dd')].map(d => d.textContent).sort().join('|') === `+jsString(noteBody+"|"+noteTitle)+` &&
		    [...c.querySelectorAll('button')].map(b => b.dataset.option).join(',') === 'approve,reject' &&
		    c.querySelector('button[data-option="approve"]').textContent === 'Save note'; })()`)

	// Approve: the card shows the choice, then the service's result arrives
	// and the card its outcome.
	within(t, ctx, 15*time.Second, "approve and see the result",
		chromedp.Click(chromedp.CSS(`#messages .proposal button[data-option="approve"]`)),
		waitFor(`document.querySelector('#messages .proposal .proposal-status') !== null`),
		waitFor(`[...document.querySelectorAll('#messages .msg-system')].some(m => m.textContent.startsWith('Saved note') && m.textContent.includes(`+jsString(noteTitle)+`))`),
		waitFor(`document.querySelector('#messages .proposal .proposal-status').textContent === 'Approved · done'`),
	)
	evalTrue(t, ctx, "no buttons left", `document.querySelectorAll('#messages .proposal button').length === 0`)
	evalTrue(t, ctx, "no error banner", `document.getElementById('banner').hidden`)

	// Reloading shows the stored conversation, the card still decided.
	within(t, ctx, 10*time.Second, "reload",
		chromedp.Reload(),
		waitFor(`document.querySelectorAll('#messages .msg-assistant').length === 2`),
		waitFor(`[...document.querySelectorAll('#messages .msg-system')].some(m => m.textContent.startsWith('Saved note'))`),
	)
	evalTrue(t, ctx, "card still decided after reload",
		`document.querySelectorAll('#messages .proposal button').length === 0 &&
		 document.querySelector('#messages .proposal .proposal-status').textContent === 'Approved · done'`)

	// Cancel a second proposal: no task, the card says so.
	within(t, ctx, 10*time.Second, "cancel a proposal",
		chromedp.SendKeys(chromedp.ID("input"), noteRequest+kb.Enter),
		waitFor(`document.querySelectorAll('#messages .proposal button[data-option="reject"]').length === 1`),
		chromedp.Click(chromedp.CSS(`#messages .proposal button[data-option="reject"]`)),
		waitFor(`[...document.querySelectorAll('#messages .proposal .proposal-status')].map(s => s.textContent).join(',') === 'Approved · done,Cancelled'`),
		waitFor(`[...document.querySelectorAll('#messages .msg-system')].some(m => m.textContent === 'Action cancelled.')`),
	)
	evalTrue(t, ctx, "parameters stay text", `document.querySelectorAll('#messages b, #messages i').length === 0`)

	// A page reloaded while a reply is pending waits for it and shows it once.
	within(t, ctx, 10*time.Second, "send, then reload before the reply",
		chromedp.SendKeys(chromedp.ID("input"), reloadQuestion+kb.Enter),
		waitFor(`!document.getElementById('thinking').hidden`),
		chromedp.Reload(),
		waitFor(`[...document.querySelectorAll('#messages .msg-user')].some(m => m.textContent === `+jsString(reloadQuestion)+`)`),
		waitFor(`!document.getElementById('thinking').hidden`),
	)
	evalTrue(t, ctx, "no reply yet", `![...document.querySelectorAll('#messages .msg-assistant')].some(m => m.textContent === `+jsString("Echo: "+reloadQuestion)+`)`)
	// The composer stays usable meanwhile: another message can be sent.
	const meanwhile = "and another thing"
	within(t, ctx, 10*time.Second, "send while the resumed reply is pending",
		chromedp.SendKeys(chromedp.ID("input"), meanwhile+kb.Enter),
		waitFor(`[...document.querySelectorAll('#messages .msg-user')].some(m => m.textContent === `+jsString(meanwhile)+`)`),
	)
	releaseReply()
	countReplies := func(q string) string {
		return `[...document.querySelectorAll('#messages .msg-assistant')].filter(m => m.textContent === ` + jsString("Echo: "+q) + `).length === 1`
	}
	within(t, ctx, 10*time.Second, "both replies arrive, once each, without another reload",
		waitFor(countReplies(reloadQuestion)),
		waitFor(countReplies(meanwhile)),
		waitFor(`document.getElementById('thinking').hidden && !document.getElementById('send').disabled`),
	)
	evalTrue(t, ctx, "no error banner after the resumed reply", `document.getElementById('banner').hidden`)

	// /clear empties the conversation, on the screen and on the server.
	within(t, ctx, 10*time.Second, "/clear",
		chromedp.SendKeys(chromedp.ID("input"), "/clear"+kb.Enter),
		waitFor(`document.querySelectorAll('#messages li').length === 1 &&
			document.querySelector('#messages li').textContent === 'Conversation cleared.'`),
	)

	// "New conversation" empties the view without creating anything.
	within(t, ctx, 5*time.Second, "new conversation",
		chromedp.Click(chromedp.ID("new-conversation")),
		waitFor(`document.querySelector('#messages .empty') !== null && location.search === ''`),
	)
	list, err := e.svc.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("conversations = %v, %v; want none (cleared, and nothing created)", list, err)
	}
}

func TestChatPageWithToken(t *testing.T) {
	const token = "browser-token"
	e := startChatEnv(t, chatEnvOptions{token: token})
	// The page shell and its assets load without the token; everything else
	// needs it (what the gateway's token check does with isPublicUIRequest).
	guarded := RequireToken(config.NewSecret(token, ""), nil)(e.handler)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublicUIRequest(r) {
			e.handler.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := startBrowser(t)

	// Without the token the page asks for it.
	within(t, ctx, 10*time.Second, "open without token",
		chromedp.Navigate(srv.URL+"/ui/chat"),
		chromedp.WaitVisible(chromedp.ID("token-form")),
	)
	// With #token= the page keeps it for the tab, drops it from the address
	// and sends it as a bearer token.
	within(t, ctx, 10*time.Second, "open with #token=",
		chromedp.Navigate(srv.URL+"/ui/chat#token="+token),
		chromedp.WaitVisible(chromedp.ID("input")),
		waitFor(`location.hash === ''`),
		chromedp.SendKeys(chromedp.ID("input"), "hi"+kb.Enter),
		waitFor(`[...document.querySelectorAll('#messages .msg-assistant')].some(m => m.textContent === 'Echo: hi')`),
	)
	evalTrue(t, ctx, "token kept in sessionStorage", `sessionStorage.getItem('steward.gatewayToken') === `+jsString(token))
	evalTrue(t, ctx, "token form hidden", `document.getElementById('token-form').hidden`)
	evalTrue(t, ctx, "token not in the page", `!document.documentElement.outerHTML.includes(`+jsString(token)+`)`)

	// Pasting it into the form works too (a fresh tab has no sessionStorage).
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	within(t, tab, 10*time.Second, "paste the token",
		chromedp.Navigate(srv.URL+"/ui/chat"),
		chromedp.WaitVisible(chromedp.ID("token-input")),
		chromedp.SendKeys(chromedp.ID("token-input"), token+kb.Enter),
		waitFor(`document.getElementById('token-form').hidden`),
		waitFor(`document.querySelectorAll('#conversation option').length === 2`),
	)
	if strings.Contains(e.logs.String(), token) {
		t.Error("the token was logged")
	}
}
