package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SearchItem is one result of /search/issues: a pull request or an issue.
type SearchItem struct {
	Org, Repo string
	Number    int
	Title     string
	// Author is user.login ("" when user is absent).
	Author string
	// State is "open" or "closed".
	State string
	// PullRequest is true when the item carries a pull_request key (issue
	// searches drop these).
	PullRequest bool
	Draft       bool
	Labels      []string
	Comments    int
	UpdatedAt   time.Time
	HTMLURL     string
}

// SearchPage is one parsed page of /search/issues.
type SearchPage struct {
	TotalCount        int
	IncompleteResults bool
	Items             []SearchItem
	// Skipped holds the repository_url of each item that could not be
	// parsed (the reference logs a warning per item and skips it).
	Skipped []string
}

// wireUser is a user object.
type wireUser struct {
	Login string `json:"login"`
}

// wireLabel is a label object.
type wireLabel struct {
	Name string `json:"name"`
}

// wireIssue is an issue or search item, as far as Steward reads it.
type wireIssue struct {
	RepositoryURL string          `json:"repository_url"`
	Number        int             `json:"number"`
	Title         string          `json:"title"`
	Body          *string         `json:"body"`
	User          *wireUser       `json:"user"`
	State         string          `json:"state"`
	Draft         bool            `json:"draft"`
	Labels        []wireLabel     `json:"labels"`
	Comments      int             `json:"comments"`
	UpdatedAt     time.Time       `json:"updated_at"`
	HTMLURL       string          `json:"html_url"`
	PullRequest   json.RawMessage `json:"pull_request"`
}

func (w *wireIssue) author() string {
	if w.User == nil {
		return ""
	}
	return w.User.Login
}

func (w *wireIssue) labels() []string {
	out := make([]string, 0, len(w.Labels))
	for _, l := range w.Labels {
		out = append(out, l.Name)
	}
	return out
}

// ParseRepositoryURL takes org and repo from an item's repository_url
// (https://api.github.com/repos/{org}/{repo}): the last two path segments,
// after any trailing "/" is dropped. ok is false when there are fewer than
// two segments or either is empty.
func ParseRepositoryURL(u string) (org, repo string, ok bool) {
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	if len(parts) < 2 {
		return "", "", false
	}
	org, repo = parts[len(parts)-2], parts[len(parts)-1]
	if org == "" || repo == "" {
		return "", "", false
	}
	return org, repo, true
}

// ParseSearchItem reads one raw search item. ok is false when its
// repository_url names no org/repo.
func ParseSearchItem(raw []byte) (item SearchItem, ok bool, err error) {
	var w wireIssue
	if err := json.Unmarshal(raw, &w); err != nil {
		return SearchItem{}, false, err
	}
	return searchItem(&w)
}

func searchItem(w *wireIssue) (SearchItem, bool, error) {
	org, repo, ok := ParseRepositoryURL(w.RepositoryURL)
	if !ok {
		return SearchItem{}, false, nil
	}
	return SearchItem{
		Org: org, Repo: repo, Number: w.Number, Title: w.Title, Author: w.author(), State: w.State,
		PullRequest: len(w.PullRequest) > 0 && string(w.PullRequest) != "null",
		Draft:       w.Draft, Labels: w.labels(), Comments: w.Comments, UpdatedAt: w.UpdatedAt, HTMLURL: w.HTMLURL,
	}, true, nil
}

// ParseSearchPage reads one /search/issues answer. Items whose
// repository_url cannot be parsed are listed in Skipped, not returned.
func ParseSearchPage(data []byte) (*SearchPage, error) {
	var w struct {
		TotalCount        int               `json:"total_count"`
		IncompleteResults bool              `json:"incomplete_results"`
		Items             []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, &Error{Err: ErrMalformedResponse, msg: "the search answer is not a search result"}
	}
	if w.Items == nil {
		return nil, &Error{Err: ErrMalformedResponse, msg: "the search answer has no items"}
	}
	page := &SearchPage{TotalCount: w.TotalCount, IncompleteResults: w.IncompleteResults, Items: make([]SearchItem, 0, len(w.Items))}
	for i, raw := range w.Items {
		var wi wireIssue
		if err := json.Unmarshal(raw, &wi); err != nil {
			return nil, &Error{Err: ErrMalformedResponse, msg: fmt.Sprintf("search item %d is not an issue", i)}
		}
		item, ok, _ := searchItem(&wi)
		if !ok {
			page.Skipped = append(page.Skipped, wi.RepositoryURL)
			continue
		}
		page.Items = append(page.Items, item)
	}
	return page, nil
}

// SearchResult is the outcome of [Client.Search].
type SearchResult struct {
	// Items from every page read, in GitHub's order; nil when NotModified.
	Items []SearchItem
	// Skipped holds unparseable repository_urls (see [SearchPage]).
	Skipped []string
	// TotalCount is GitHub's total_count.
	TotalCount int
	// Incomplete is true when GitHub said incomplete_results, or more pages
	// existed than MaxPages allowed.
	Incomplete bool
	// Pages is how many requests were made.
	Pages int
	// Meta is the first page's. NotModified means the first page is
	// unchanged, total_count included: for a result that fit on one page
	// (TotalCount <= PerPage) that is the whole result; a caller tracking
	// more should search unconditionally.
	Meta Meta
}

// SearchOptions tune [Client.Search].
type SearchOptions struct {
	// ETag is the first page's stored validator ("" = unconditional).
	ETag string
	// PerPage is the page size (0 = 100, GitHub's maximum).
	PerPage int
	// MaxPages bounds the requests (0 = DefaultMaxSearchPages).
	MaxPages int
}

// Search runs GET /search/issues?q={query}&per_page=100 and follows Link
// rel="next" for the following pages.
func (c *Client) Search(ctx context.Context, query string, o SearchOptions) (*SearchResult, error) {
	if o.PerPage <= 0 || o.PerPage > 100 {
		o.PerPage = 100
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxSearchPages
	}
	q := url.Values{"q": {query}, "per_page": {strconv.Itoa(o.PerPage)}}
	target := "/search/issues?" + q.Encode()
	res := &SearchResult{}
	for target != "" {
		if res.Pages == o.MaxPages {
			res.Incomplete = true
			break
		}
		etag := ""
		if res.Pages == 0 {
			etag = o.ETag
		}
		resp, err := c.do(ctx, request{method: http.MethodGet, target: target, etag: etag})
		if err != nil {
			return nil, err
		}
		res.Pages++
		if res.Pages == 1 {
			res.Meta = resp.meta
			if resp.meta.NotModified {
				return res, nil
			}
		}
		page, err := ParseSearchPage(resp.body)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Integration, e.Status = c.integration, resp.meta.Status
			}
			return nil, err
		}
		res.TotalCount = page.TotalCount
		res.Incomplete = res.Incomplete || page.IncompleteResults
		res.Items = append(res.Items, page.Items...)
		res.Skipped = append(res.Skipped, page.Skipped...)
		target = NextLink(resp.header.Get("Link"))
	}
	if res.Items == nil {
		res.Items = []SearchItem{}
	}
	return res, nil
}

// NextLink returns the rel="next" URL of a Link header, "" when none.
func NextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		u := strings.TrimSpace(segs[0])
		if !strings.HasPrefix(u, "<") || !strings.HasSuffix(u, ">") {
			continue
		}
		for _, p := range segs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "rel") && strings.Trim(strings.TrimSpace(v), `"`) == "next" {
				return u[1 : len(u)-1]
			}
		}
	}
	return ""
}

// Pull is a pull request's detail.
type Pull struct {
	Org, Repo string
	Number    int
	Title     string
	// Body is "" when GitHub's body is null.
	Body   string
	Author string
	// State is "open" or "closed"; Merged tells a merged one apart.
	State        string
	Merged       bool
	Draft        bool
	Additions    int
	Deletions    int
	ChangedFiles int
	HeadSHA      string
	UpdatedAt    time.Time
	HTMLURL      string
}

// Status is the reference's status: "merged", "closed" or "open" (also for
// a missing state).
func (p *Pull) Status() string {
	switch {
	case p.Merged:
		return "merged"
	case p.State == "closed":
		return "closed"
	default:
		return "open"
	}
}

// repoPath builds /repos/{org}/{repo}/{kind}/{n}, escaping the names.
func repoPath(org, repo, kind string, n int) string {
	return "/repos/" + url.PathEscape(org) + "/" + url.PathEscape(repo) + "/" + kind + "/" + strconv.Itoa(n)
}

// GetPull runs GET /repos/{org}/{repo}/pulls/{n}. With a stored etag a 304
// gives a nil Pull and Meta.NotModified.
func (c *Client) GetPull(ctx context.Context, org, repo string, n int, etag string) (*Pull, Meta, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, target: repoPath(org, repo, "pulls", n), etag: etag})
	if err != nil {
		return nil, Meta{}, err
	}
	if resp.meta.NotModified {
		return nil, resp.meta, nil
	}
	var w struct {
		Title        string    `json:"title"`
		Body         *string   `json:"body"`
		User         *wireUser `json:"user"`
		State        string    `json:"state"`
		Merged       bool      `json:"merged"`
		Draft        bool      `json:"draft"`
		Additions    int       `json:"additions"`
		Deletions    int       `json:"deletions"`
		ChangedFiles int       `json:"changed_files"`
		Head         struct {
			SHA string `json:"sha"`
		} `json:"head"`
		UpdatedAt time.Time `json:"updated_at"`
		HTMLURL   string    `json:"html_url"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, Meta{}, c.malformed(resp, "the pull request")
	}
	p := &Pull{Org: org, Repo: repo, Number: n, Title: w.Title, State: w.State, Merged: w.Merged, Draft: w.Draft,
		Additions: w.Additions, Deletions: w.Deletions, ChangedFiles: w.ChangedFiles, HeadSHA: w.Head.SHA,
		UpdatedAt: w.UpdatedAt, HTMLURL: w.HTMLURL}
	if w.Body != nil {
		p.Body = *w.Body
	}
	if w.User != nil {
		p.Author = w.User.Login
	}
	return p, resp.meta, nil
}

// Diff is a pull request's diff, possibly cut.
type Diff struct {
	// Text is the diff: at most the cap in bytes, never ending inside a
	// UTF-8 sequence.
	Text string
	// Truncated is true when the diff was longer than the cap.
	Truncated bool
}

// GetPullDiff runs GET /repos/{org}/{repo}/pulls/{n} with Accept:
// application/vnd.github.diff, reading at most maxBytes+1 bytes (maxBytes <=
// 0 means DefaultDiffBytes).
func (c *Client) GetPullDiff(ctx context.Context, org, repo string, n int, etag string, maxBytes int) (*Diff, Meta, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultDiffBytes
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, target: repoPath(org, repo, "pulls", n), etag: etag,
		accept: MediaDiff, max: maxBytes, truncate: true})
	if err != nil {
		return nil, Meta{}, err
	}
	if resp.meta.NotModified {
		return nil, resp.meta, nil
	}
	body := resp.body
	if resp.truncated {
		body = cutPartialRune(body)
	}
	return &Diff{Text: string(body), Truncated: resp.truncated}, resp.meta, nil
}

// cutPartialRune drops a UTF-8 sequence cut short at the end of b (what
// capping a read leaves); any other bytes, valid or not, are kept.
func cutPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// Issue is an issue's detail.
type Issue struct {
	Org, Repo string
	Number    int
	Title     string
	// Body is "" when GitHub's body is null.
	Body   string
	Author string
	// State is "open" or "closed" ("unknown" when absent, as the
	// reference).
	State string
	// Labels are the label names ([] when none).
	Labels []string
	// Comments is the comment count.
	Comments int
	// PullRequest is true when the issue is a pull request's.
	PullRequest bool
	UpdatedAt   time.Time
	HTMLURL     string
}

// GetIssue runs GET /repos/{org}/{repo}/issues/{n}. With a stored etag a
// 304 gives a nil Issue and Meta.NotModified.
func (c *Client) GetIssue(ctx context.Context, org, repo string, n int, etag string) (*Issue, Meta, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, target: repoPath(org, repo, "issues", n), etag: etag})
	if err != nil {
		return nil, Meta{}, err
	}
	if resp.meta.NotModified {
		return nil, resp.meta, nil
	}
	var w wireIssue
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, Meta{}, c.malformed(resp, "the issue")
	}
	is := &Issue{Org: org, Repo: repo, Number: n, Title: w.Title, Author: w.author(), State: w.State,
		Labels: w.labels(), Comments: w.Comments, UpdatedAt: w.UpdatedAt, HTMLURL: w.HTMLURL,
		PullRequest: len(w.PullRequest) > 0 && string(w.PullRequest) != "null"}
	if w.Body != nil {
		is.Body = *w.Body
	}
	if is.State == "" {
		is.State = "unknown"
	}
	return is, resp.meta, nil
}

// CreatedIssue is what [Client.CreateIssue] returns.
type CreatedIssue struct {
	// Number is 0 when GitHub's answer held none.
	Number int
	// URL is html_url.
	URL string
}

// CreateIssue runs POST /repos/{org}/{repo}/issues with {"title", "body"}
// (body always sent). It is not idempotent: a transient error after the
// request left may mean the issue exists.
func (c *Client) CreateIssue(ctx context.Context, org, repo, title, body string) (*CreatedIssue, error) {
	resp, err := c.do(ctx, request{method: http.MethodPost, target: "/repos/" + url.PathEscape(org) + "/" + url.PathEscape(repo) + "/issues",
		body: map[string]string{"title": title, "body": body}})
	if err != nil {
		return nil, err
	}
	var w struct {
		Number  int    `json:"number"`
		HTMLURL string `json:"html_url"`
	}
	if len(resp.body) > 0 {
		if err := json.Unmarshal(resp.body, &w); err != nil {
			return nil, c.malformed(resp, "the created issue")
		}
	}
	return &CreatedIssue{Number: w.Number, URL: w.HTMLURL}, nil
}

// malformed is the error for a 2xx body that does not decode.
func (c *Client) malformed(resp *response, what string) *Error {
	return &Error{Integration: c.integration, Transient: true, Status: resp.meta.Status, Err: ErrMalformedResponse,
		msg: what + " answer is not GitHub's JSON"}
}
