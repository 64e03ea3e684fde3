package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/testkit/githubfake"
)

// prs makes n open pull requests o/r#1..n authored by "me".
func prs(n int) []githubfake.Item {
	out := make([]githubfake.Item, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, githubfake.Item{Org: "o", Repo: "r", Number: i, PullRequest: true, Author: "me",
			Title: fmt.Sprintf("pr %d", i), Reviewers: []string{"me"}})
	}
	return out
}

func TestSearchPaginates(t *testing.T) {
	items := prs(250)
	items = append(items, githubfake.Item{Org: "o", Repo: "r", Number: 900, Author: "me", Title: "an issue"})
	e := setup(t, githubfake.WithItems(items...))
	ctx := context.Background()
	if _, err := e.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query      string
		maxPages         int
		items, requests  int
		incomplete       bool
		firstNum, lastNo int
	}{
		{"250 results in 3 pages", "is:pr is:open author:me", 0, 250, 3, false, 1, 250},
		{"issues only", "is:issue is:open author:me", 0, 1, 1, false, 900, 900},
		{"no results", "is:pr is:open author:nobody", 0, 0, 1, false, 0, 0},
		{"capped at MaxPages", "is:pr review-requested:me", 2, 200, 2, true, 1, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fake.ResetLog()
			res, err := e.client.Search(ctx, tt.query, client.SearchOptions{MaxPages: tt.maxPages})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != tt.items || res.Pages != tt.requests || len(e.fake.Requests()) != tt.requests || res.Incomplete != tt.incomplete {
				t.Fatalf("%d items in %d pages (%d requests), incomplete %v; want %d in %d, %v",
					len(res.Items), res.Pages, len(e.fake.Requests()), res.Incomplete, tt.items, tt.requests, tt.incomplete)
			}
			if tt.items > 0 && (res.Items[0].Number != tt.firstNum || res.Items[len(res.Items)-1].Number != tt.lastNo) {
				t.Fatalf("items %d..%d", res.Items[0].Number, res.Items[len(res.Items)-1].Number)
			}
			for _, r := range e.fake.Requests() {
				if !r.Token || r.Accept != client.MediaJSON || !strings.Contains(r.Query, "per_page=100") {
					t.Fatalf("request %+v", r)
				}
			}
		})
	}
	res, _ := e.client.Search(ctx, "is:pr author:me", client.SearchOptions{})
	it := res.Items[0]
	if it.Org != "o" || it.Repo != "r" || it.Author != "me" || !it.PullRequest || it.Title != "pr 1" || res.TotalCount != 250 {
		t.Fatalf("item %+v total %d", it, res.TotalCount)
	}
}

func TestConditionalRequests(t *testing.T) {
	e := setup(t, githubfake.WithItems(append(prs(3), githubfake.Item{Org: "o", Repo: "r", Number: 7, Title: "bug", Labels: []string{"bug"}, Diff: ""})...))
	e.fake.Update("o", "r", 1, func(it *githubfake.Item) { it.Diff = "diff --git a/x b/x\n" })
	ctx := context.Background()

	type getter func(etag string) (notModified bool, meta client.Meta, err error)
	gets := []struct {
		name   string
		get    getter
		change func()
	}{
		{"pull", func(etag string) (bool, client.Meta, error) {
			p, m, err := e.client.GetPull(ctx, "o", "r", 1, etag)
			return p == nil && m.NotModified, m, err
		}, func() { e.fake.Update("o", "r", 1, func(it *githubfake.Item) { it.Title = "renamed" }) }},
		{"diff", func(etag string) (bool, client.Meta, error) {
			d, m, err := e.client.GetPullDiff(ctx, "o", "r", 1, etag, 0)
			return d == nil && m.NotModified, m, err
		}, func() { e.fake.Update("o", "r", 1, func(it *githubfake.Item) { it.Diff += "+more\n" }) }},
		{"issue", func(etag string) (bool, client.Meta, error) {
			is, m, err := e.client.GetIssue(ctx, "o", "r", 7, etag)
			return is == nil && m.NotModified, m, err
		}, func() { e.fake.Update("o", "r", 7, func(it *githubfake.Item) { it.Comments++ }) }},
		{"search", func(etag string) (bool, client.Meta, error) {
			res, err := e.client.Search(ctx, "is:pr author:me", client.SearchOptions{ETag: etag})
			if err != nil {
				return false, client.Meta{}, err
			}
			return res.Items == nil && res.Meta.NotModified, res.Meta, nil
		}, func() { e.fake.Update("o", "r", 2, func(it *githubfake.Item) { it.Title = "moved" }) }},
	}
	for _, g := range gets {
		t.Run(g.name, func(t *testing.T) {
			nm, m1, err := g.get("")
			if err != nil || nm || m1.ETag == "" || m1.Status != 200 {
				t.Fatalf("first GET: notModified %v meta %+v err %v", nm, m1, err)
			}
			remaining := m1.Rate.Remaining
			e.fake.ResetLog()
			nm, m2, err := g.get(m1.ETag)
			if err != nil || !nm || m2.Status != http.StatusNotModified || m2.ETag != m1.ETag {
				t.Fatalf("conditional GET: notModified %v meta %+v err %v", nm, m2, err)
			}
			if log := e.fake.Requests(); len(log) != 1 || log[0].IfNoneMatch != m1.ETag {
				t.Fatalf("log %+v", log)
			}
			if m2.Rate.Remaining != remaining {
				t.Fatalf("a 304 spent rate limit: %d → %d", remaining, m2.Rate.Remaining)
			}
			g.change()
			nm, m3, err := g.get(m1.ETag)
			if err != nil || nm || m3.ETag == m1.ETag {
				t.Fatalf("after a change: notModified %v meta %+v err %v", nm, m3, err)
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	e := setup(t, githubfake.WithItems(prs(1)...))
	ctx := context.Background()
	e.fake.SetRetryAfter(42 * time.Second)
	tests := []struct {
		limit    githubfake.Limit
		min, max time.Duration
		status   int
		text     string
	}{
		{githubfake.Primary, 59 * time.Minute, 61 * time.Minute, 403, "primary rate limit exhausted"},
		{githubfake.Secondary, 42 * time.Second, 42 * time.Second, 403, "secondary rate limit"},
		{githubfake.SecondaryNoHeader, time.Minute, time.Minute, 403, "secondary rate limit"},
		{githubfake.TooMany, 42 * time.Second, 42 * time.Second, 429, "rate limited"},
	}
	for _, tt := range tests {
		t.Run(tt.text+fmt.Sprint(tt.status, tt.limit), func(t *testing.T) {
			e.fake.LimitNext(tt.limit)
			_, _, err := e.client.GetPull(ctx, "o", "r", 1, "")
			d, limited := client.RetryAfter(err)
			if !limited || d < tt.min || d > tt.max {
				t.Fatalf("err %v: retry after %s (limited %v), want %s..%s", err, d, limited, tt.min, tt.max)
			}
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Transient || ce.Permanent() || ce.Status != tt.status || !errors.Is(err, client.ErrRateLimited) {
				t.Fatalf("err %#v", err)
			}
			if !strings.HasPrefix(err.Error(), "github.work: ") || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("message %q", err)
			}
			e.checkClean(t, err)
		})
	}
	// Once the limit passes, calls work again with the same token.
	if _, _, err := e.client.GetPull(ctx, "o", "r", 1, ""); err != nil {
		t.Fatal(err)
	}
	if e.fake.Exchanges() != 1 {
		t.Fatalf("exchanges %d", e.fake.Exchanges())
	}
}

func TestStatusErrors(t *testing.T) {
	e := setup(t, githubfake.WithItems(prs(1)...))
	ctx := context.Background()
	tests := []struct {
		name      string
		fail      int
		call      func() error
		transient bool
		cause     error
		text      string
	}{
		{"404 pull", 0, func() error { _, _, err := e.client.GetPull(ctx, "o", "r", 404, ""); return err }, false, client.ErrNotFound, "not found (HTTP 404)"},
		{"404 repo", 0, func() error { _, _, err := e.client.GetIssue(ctx, "nope", "nope", 1, ""); return err }, false, client.ErrNotFound, "HTTP 404"},
		{"500", 500, func() error { _, _, err := e.client.GetPull(ctx, "o", "r", 1, ""); return err }, true, client.ErrStatus, "HTTP 500"},
		{"502 search", 502, func() error { _, err := e.client.Search(ctx, "is:pr", client.SearchOptions{}); return err }, true, client.ErrStatus, "HTTP 502"},
		{"503 create", 503, func() error { _, err := e.client.CreateIssue(ctx, "o", "r", "t", ""); return err }, true, client.ErrStatus, "HTTP 503"},
		{"422 create without title", 0, func() error { _, err := e.client.CreateIssue(ctx, "o", "r", "", "b"); return err }, false, client.ErrStatus,
			"HTTP 422 Unprocessable Entity: Validation Failed; Issue title missing_field"},
		{"403 permission", 403, func() error { _, _, err := e.client.GetPull(ctx, "o", "r", 1, ""); return err }, false, client.ErrStatus, "HTTP 403 Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				e.fake.FailNext(tt.fail)
			}
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if client.IsTransient(err) != tt.transient || client.IsPermanent(err) == tt.transient || !errors.Is(err, tt.cause) {
				t.Fatalf("%v: transient %v, want %v; cause %v", err, client.IsTransient(err), tt.transient, tt.cause)
			}
			if _, limited := client.RetryAfter(err); limited {
				t.Fatalf("%v counted as a rate limit", err)
			}
			if !strings.HasPrefix(err.Error(), "github.work: ") || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("message %q, want %q", err, tt.text)
			}
			e.checkClean(t, err)
		})
	}
}

func TestTransportErrorsAreTransient(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := e.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	url := e.fake.URL()
	e.fake.Close()
	_, err := e.client.Search(ctx, "is:pr", client.SearchOptions{})
	if !client.IsTransient(err) || !strings.Contains(err.Error(), "cannot reach the GitHub API") || strings.Contains(err.Error(), "search/issues") {
		t.Fatalf("%v (api %s)", err, url)
	}
	e.checkClean(t, err)
}

func TestMappings(t *testing.T) {
	e := setup(t, githubfake.WithItems(
		githubfake.Item{Org: "o", Repo: "r", Number: 1, PullRequest: true, State: "closed", Merged: true, Title: "m", Author: "a", Body: "b", Additions: 3, Deletions: 2, Files: 1},
		githubfake.Item{Org: "o", Repo: "r", Number: 2, PullRequest: true, State: "closed", NullBody: true},
		githubfake.Item{Org: "o", Repo: "r", Number: 3, PullRequest: true},
		githubfake.Item{Org: "o", Repo: "r", Number: 4, Title: "i", State: "open", Labels: []string{"bug", "urgent"}, Comments: 5, NullBody: true},
		githubfake.Item{Org: "o", Repo: "r", Number: 5},
	))
	ctx := context.Background()
	for _, tt := range []struct {
		n      int
		status string
	}{{1, "merged"}, {2, "closed"}, {3, "open"}} {
		p, _, err := e.client.GetPull(ctx, "o", "r", tt.n, "")
		if err != nil || p.Status() != tt.status {
			t.Fatalf("#%d: %+v %v, want %s", tt.n, p, err, tt.status)
		}
	}
	p, _, _ := e.client.GetPull(ctx, "o", "r", 1, "")
	if p.Title != "m" || p.Author != "a" || p.Body != "b" || p.Additions != 3 || p.Deletions != 2 || p.ChangedFiles != 1 || p.HeadSHA == "" {
		t.Fatalf("pull %+v", p)
	}
	p, _, _ = e.client.GetPull(ctx, "o", "r", 2, "")
	if p.Body != "" {
		t.Fatalf("null body: %q", p.Body)
	}
	is, _, err := e.client.GetIssue(ctx, "o", "r", 4, "")
	if err != nil || is.Title != "i" || is.State != "open" || !slices.Equal(is.Labels, []string{"bug", "urgent"}) || is.Comments != 5 || is.Body != "" || is.PullRequest {
		t.Fatalf("issue %+v %v", is, err)
	}
	is, _, _ = e.client.GetIssue(ctx, "o", "r", 5, "")
	if is.Labels == nil || len(is.Labels) != 0 {
		t.Fatalf("no labels: %#v", is.Labels)
	}
	is, _, _ = e.client.GetIssue(ctx, "o", "r", 3, "")
	if !is.PullRequest {
		t.Fatal("a pull request's issue should say so")
	}
}

func TestPullDiffCap(t *testing.T) {
	big := strings.Repeat("+line é\n", 10_000) // 9 bytes a line, 'é' is 2 bytes
	e := setup(t, githubfake.WithItems(
		githubfake.Item{Org: "o", Repo: "r", Number: 1, PullRequest: true, Diff: "diff --git a/x b/x\n+1\n"},
		githubfake.Item{Org: "o", Repo: "r", Number: 2, PullRequest: true, Diff: big},
		githubfake.Item{Org: "o", Repo: "r", Number: 3, PullRequest: true, Diff: strings.Repeat("\xe9", 100)}, // Latin-1
	))
	ctx := context.Background()
	if _, err := e.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		n, cap    int
		wantLen   int
		truncated bool
	}{
		{"small diff whole", 1, 0, len("diff --git a/x b/x\n+1\n"), false},
		{"default cap", 2, 0, client.DefaultDiffBytes, true},
		{"cut inside a rune backs off", 2, 7, 6, true},
		{"exactly the cap", 1, len("diff --git a/x b/x\n+1\n"), len("diff --git a/x b/x\n+1\n"), false},
		{"invalid UTF-8: only what may be a cut rune is dropped", 3, 5, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fake.ResetLog()
			d, _, err := e.client.GetPullDiff(ctx, "o", "r", tt.n, "", tt.cap)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Text) != tt.wantLen || d.Truncated != tt.truncated || (tt.n != 3 && !utf8.ValidString(d.Text)) {
				t.Fatalf("%d bytes truncated %v valid %v; want %d, %v", len(d.Text), d.Truncated, utf8.ValidString(d.Text), tt.wantLen, tt.truncated)
			}
			log := e.fake.Requests()
			if len(log) != 1 || log[0].Method != "GET" || log[0].Path != fmt.Sprintf("/repos/o/r/pulls/%d", tt.n) || log[0].Accept != client.MediaDiff {
				t.Fatalf("requests %+v", log)
			}
		})
	}
}

func TestCreateIssue(t *testing.T) {
	e := setup(t, githubfake.WithItems(githubfake.Item{Org: "myorg", Repo: "myrepo", Number: 41}))
	ctx := context.Background()
	for i, tt := range []struct{ title, body string }{{"Bug report", "Steps to reproduce"}, {"No body", ""}} {
		got, err := e.client.CreateIssue(ctx, "myorg", "myrepo", tt.title, tt.body)
		if err != nil {
			t.Fatal(err)
		}
		if got.Number != 42+i || got.URL != fmt.Sprintf("https://github.com/myorg/myrepo/issues/%d", 42+i) {
			t.Fatalf("created %+v", got)
		}
		c := e.fake.Created()[i]
		if c.Org != "myorg" || c.Repo != "myrepo" || c.Title != tt.title || c.Body != tt.body || !c.HadBody {
			t.Fatalf("recorded %+v", c)
		}
	}
	log := e.fake.Requests()
	if last := log[len(log)-1]; last.Method != "POST" || last.Path != "/repos/myorg/myrepo/issues" || last.Status != 201 || !last.Token {
		t.Fatalf("request %+v", last)
	}
	e.checkClean(t, nil)
}

func TestParseRepositoryURL(t *testing.T) {
	tests := []struct {
		url, org, repo string
		ok             bool
	}{
		{"https://api.github.com/repos/myorg/myrepo", "myorg", "myrepo", true},
		{"https://api.github.com/repos/myorg/myrepo/", "myorg", "myrepo", true},
		{"https://ghe.example/api/v3/repos/a/b", "a", "b", true},
		{"", "", "", false},
		{"x", "", "", false},
		{"/x", "", "", false},
	}
	for _, tt := range tests {
		org, repo, ok := client.ParseRepositoryURL(tt.url)
		if org != tt.org || repo != tt.repo || ok != tt.ok {
			t.Errorf("%q: %q %q %v", tt.url, org, repo, ok)
		}
	}
	page, err := client.ParseSearchPage([]byte(`{"total_count":3,"items":[
		{"repository_url":"https://api.github.com/repos/myorg/myrepo","number":5,"title":"t","user":{"login":"u"}},
		{"repository_url":"x","number":6},
		{"repository_url":"https://api.github.com/repos/o/r/","number":7,"pull_request":{"url":"u"}}]}`))
	if err != nil || len(page.Items) != 2 || page.Items[0].Author != "u" || page.Items[1].Author != "" || !page.Items[1].PullRequest ||
		page.Items[0].PullRequest || !slices.Equal(page.Skipped, []string{"x"}) {
		t.Fatalf("%+v %v", page, err)
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{`<https://api.github.com/search/issues?q=a&page=2>; rel="next", <https://api.github.com/search/issues?q=a&page=3>; rel="last"`,
			"https://api.github.com/search/issues?q=a&page=2"},
		{`<https://x/1>; rel="prev", <https://x/3>; rel="next"`, "https://x/3"},
		{`<https://x/1>; rel="last"`, ""},
		{``, ""},
		{`garbage; rel="next"`, ""},
	}
	for _, tt := range tests {
		if got := client.NextLink(tt.header); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://api.github.com", true}, {"https://ghe.example.com/api/v3", true}, {"http://127.0.0.1:8080", true},
		{"http://ghe.example.com/api/v3", false}, {"https://user:pw@api.github.com", false}, {"api.github.com", false},
		{"https://api.github.com?x=1", false},
	} {
		if err := client.CheckBaseURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckBaseURL(%q) = %v", tt.url, err)
		}
	}
	for _, tt := range []struct {
		id string
		ok bool
	}{{"12345", true}, {"", false}, {"12a", false}, {"../1", false}} {
		if err := client.CheckInstallationID(tt.id); (err == nil) != tt.ok {
			t.Errorf("CheckInstallationID(%q) = %v", tt.id, err)
		}
	}
}
