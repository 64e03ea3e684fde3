// Package githubfake is a stand-in for the parts of GitHub's REST API that
// Steward's GitHub integration calls, for tests and load runs:
//
//	POST /app/installations/{id}/access_tokens   (JWT verified, RS256)
//	GET  /search/issues?q=&per_page=&page=        (Link pagination)
//	GET  /repos/{o}/{r}/pulls/{n}                 (JSON, or the diff media type)
//	GET  /repos/{o}/{r}/issues/{n}
//	POST /repos/{o}/{r}/issues                    (records created issues)
//
// A [Server] listens on a real TCP port on 127.0.0.1 and speaks GitHub's wire
// format: the App JWT is verified against the App's public key (iss, iat,
// exp no more than ten minutes after iat), installation tokens carry an
// expires_at by the server's clock and are checked on every API call, GETs
// carry ETags and answer 304 to a matching If-None-Match without spending
// rate limit, every answer carries X-RateLimit-* headers, and primary or
// secondary rate-limit answers, 5xx errors and 404s can be ordered. Every
// request is logged (method, path, status, which credential it carried).
//
// Search understands the qualifiers Steward sends: is:pr, is:issue, is:open,
// is:closed, author:, assignee:, review-requested:, mentions:, draft:,
// org: and repo:; other words are ignored.
//
// It does not depend on package testing.
package githubfake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Item is a pull request or an issue the fake serves.
type Item struct {
	Org, Repo string
	Number    int
	// PullRequest makes the item a pull request.
	PullRequest bool
	Title       string
	Body        string
	// NullBody makes body null on the wire.
	NullBody  bool
	Author    string
	State     string // "" = "open"
	Merged    bool
	Draft     bool
	Labels    []string
	Comments  int
	Additions int
	Deletions int
	Files     int
	// Diff is served for the diff media type.
	Diff string
	// Assignees, Reviewers and Mentions answer the search qualifiers.
	Assignees, Reviewers, Mentions []string
	UpdatedAt                      time.Time
}

// state is the item's state with the default applied.
func (it *Item) state() string {
	if it.State == "" {
		return "open"
	}
	return it.State
}

// Created is an issue created through the fake.
type Created struct {
	Org, Repo, Title, Body string
	Number                 int
	// HadBody is false when the request JSON had no "body" key.
	HadBody bool
}

// Logged is one request the fake received.
type Logged struct {
	Method string
	// Path is the URL path; Query the raw query.
	Path, Query string
	Status      int
	// Token is true when the request carried a valid installation token;
	// JWT when it carried an App JWT (token exchanges).
	Token, JWT bool
	// IfNoneMatch is the If-None-Match header sent.
	IfNoneMatch string
	// Accept is the Accept header sent.
	Accept string
}

// Limit is an ordered rate-limit answer.
type Limit int

// Rate-limit answers.
const (
	// Primary answers 403 with X-RateLimit-Remaining 0 and a reset time.
	Primary Limit = iota + 1
	// Secondary answers 403 with Retry-After and GitHub's secondary-limit
	// message.
	Secondary
	// SecondaryNoHeader answers 403 with the secondary-limit message only.
	SecondaryNoHeader
	// TooMany answers 429 with Retry-After.
	TooMany
)

// Server is a fake GitHub API. All methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	appID          string
	installationID string
	key            *rsa.PrivateKey

	mu         sync.Mutex
	now        func() time.Time
	tokenTTL   time.Duration
	tokens     map[string]time.Time // token → expires_at
	tokenSeq   int
	exchanges  int
	items      []*Item
	created    []Created
	log        []Logged
	limitNext  []Limit
	failNext   []int
	remaining  int
	resetAt    time.Time
	retryAfter time.Duration
	revoked    bool
	exFail     []int
	exLatency  time.Duration
}

// Option configures a Server at New.
type Option func(*Server)

// WithApp sets the App id and installation id the fake accepts (default
// "12345" and "67890").
func WithApp(appID, installationID string) Option {
	return func(s *Server) { s.appID, s.installationID = appID, installationID }
}

// WithKey sets the App's private key (default: one generated at New; share
// one across tests with [GenerateKey] to save the time).
func WithKey(k *rsa.PrivateKey) Option { return func(s *Server) { s.key = k } }

// WithClock sets the clock for token expiry and rate-limit resets.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenTTL sets the lifetime of installation tokens (default 1h).
func WithTokenTTL(d time.Duration) Option { return func(s *Server) { s.tokenTTL = d } }

// WithItems sets the served items.
func WithItems(items ...Item) Option {
	return func(s *Server) {
		for i := range items {
			it := items[i]
			s.items = append(s.items, &it)
		}
	}
}

// RateLimit is the X-RateLimit-Limit of the core resource.
const RateLimit = 5000

// GenerateKey makes a 2048-bit RSA key for the App.
func GenerateKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("githubfake: generate RSA key: %v", err))
	}
	return k
}

// New starts a server on 127.0.0.1 with a random port. Close it when done.
func New(opts ...Option) *Server {
	s := &Server{appID: "12345", installationID: "67890", now: time.Now, tokenTTL: time.Hour,
		tokens: map[string]time.Time{}, remaining: RateLimit, retryAfter: 60 * time.Second}
	for _, o := range opts {
		o(s)
	}
	if s.key == nil {
		s.key = GenerateKey()
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server root, the api_url to configure.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AppID is the App id the fake accepts as the JWT iss.
func (s *Server) AppID() string { return s.appID }

// InstallationID is the installation the fake issues tokens for.
func (s *Server) InstallationID() string { return s.installationID }

// PrivateKeyPKCS1 is the App key as GitHub hands it out ("RSA PRIVATE KEY").
func (s *Server) PrivateKeyPKCS1() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.key)}))
}

// PrivateKeyPKCS8 is the App key as PKCS#8 ("PRIVATE KEY").
func (s *Server) PrivateKeyPKCS8() string {
	b, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		panic(fmt.Sprintf("githubfake: marshal PKCS#8: %v", err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b}))
}

// PublicKey is the App's public key, for verifying JWTs in tests.
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// Exchanges is how many installation tokens the fake has issued.
func (s *Server) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

// Tokens lists the installation tokens issued so far (for tests asserting
// that no error or log line holds one).
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Requests returns the request log.
func (s *Server) Requests() []Logged {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Created returns the issues created through the fake.
func (s *Server) Created() []Created {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created)
}

// SetItems replaces the served items.
func (s *Server) SetItems(items ...Item) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = nil
	for i := range items {
		it := items[i]
		s.items = append(s.items, &it)
	}
}

// Update changes one item in place (its ETag changes with it); false when
// there is no such item.
func (s *Server) Update(org, repo string, n int, f func(*Item)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.find(org, repo, n); it != nil {
		f(it)
		return true
	}
	return false
}

// LimitNext makes the next API calls (not token exchanges) answer with the
// given rate limits, one each.
func (s *Server) LimitNext(ls ...Limit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitNext = append(s.limitNext, ls...)
}

// FailNext makes the next API calls answer with the given HTTP statuses
// (e.g. 502), one each.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// SetRetryAfter sets the Retry-After of secondary and 429 answers (default
// 60 s).
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// FailExchangeNext makes the next token exchanges answer with the given HTTP
// statuses (e.g. 502), one each.
func (s *Server) FailExchangeNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exFail = append(s.exFail, statuses...)
}

// SetExchangeLatency delays every token exchange by d.
func (s *Server) SetExchangeLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exLatency = d
}

// Revoke uninstalls the App: token exchanges answer 404 and existing tokens
// stop working (401).
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
	s.tokens = map[string]time.Time{}
}

// find returns the item, or nil. Callers hold mu.
func (s *Server) find(org, repo string, n int) *Item {
	for _, it := range s.items {
		if strings.EqualFold(it.Org, org) && strings.EqualFold(it.Repo, repo) && it.Number == n {
			return it
		}
	}
	return nil
}

// serve routes one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &Logged{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		IfNoneMatch: r.Header.Get("If-None-Match"), Accept: r.Header.Get("Accept")}
	// The entry is logged when the status is written, before the body: a
	// client that stops reading early (a capped diff) may return before the
	// handler does.
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, logged: func(code int) {
		rec.Status = code
		s.mu.Lock()
		s.log = append(s.log, *rec)
		s.mu.Unlock()
	}}
	defer func() {
		if !sw.wrote {
			sw.logged(sw.status)
		}
	}()
	if r.Header.Get("User-Agent") == "" { // GitHub requires one
		writeError(sw, http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "app" && parts[1] == "installations" && parts[3] == "access_tokens":
		rec.JWT = true
		s.accessToken(sw, r, parts[2])
		return
	}
	if !s.authorize(sw, r) {
		return
	}
	rec.Token = true
	if s.ordered(sw) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/search/issues":
		s.search(sw, r)
	case len(parts) == 5 && parts[0] == "repos" && r.Method == http.MethodGet && (parts[3] == "pulls" || parts[3] == "issues"):
		n, err := strconv.Atoi(parts[4])
		if err != nil {
			writeError(sw, http.StatusNotFound, "Not Found")
			return
		}
		s.item(sw, r, parts[1], parts[2], parts[3], n)
	case len(parts) == 4 && parts[0] == "repos" && parts[3] == "issues" && r.Method == http.MethodPost:
		s.createIssue(sw, r, parts[1], parts[2])
	default:
		writeError(sw, http.StatusNotFound, "Not Found")
	}
}

// statusWriter logs the request when its status is written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	logged func(status int)
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
		w.logged(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// writeError writes GitHub's error body.
func writeError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
}

// bearer returns the credential of an Authorization header ("Bearer x" or
// "token x").
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, p := range []string{"Bearer ", "bearer ", "token "} {
		if strings.HasPrefix(h, p) {
			return strings.TrimSpace(h[len(p):])
		}
	}
	return ""
}

// accessToken answers a token exchange.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request, installation string) {
	s.mu.Lock()
	latency, fail := s.exLatency, 0
	if len(s.exFail) > 0 {
		fail, s.exFail = s.exFail[0], s.exFail[1:]
	}
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		writeError(w, fail, http.StatusText(fail))
		return
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(bearer(r), claims, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(s.clock), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil {
		writeError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	if claims.Issuer != s.appID {
		writeError(w, http.StatusUnauthorized, "Integration not found")
		return
	}
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute {
		writeError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future")
		return
	}
	s.mu.Lock()
	if installation != s.installationID || s.revoked {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.tokenSeq++
	s.exchanges++
	tok := fmt.Sprintf("ghs_fake%04d%s", s.tokenSeq, randomHex(12))
	exp := s.now().Add(s.tokenTTL).UTC().Truncate(time.Second)
	s.tokens[tok] = exp
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions": map[string]string{"issues": "write", "pull_requests": "read", "metadata": "read"}, "repository_selection": "all"})
}

func (s *Server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// authorize checks the installation token of an API call.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok := bearer(r)
	s.mu.Lock()
	exp, ok := s.tokens[tok]
	live := ok && s.now().Before(exp)
	s.mu.Unlock()
	if !live {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return false
	}
	return true
}

// ordered answers with an ordered rate limit or failure; false when none is
// pending.
func (s *Server) ordered(w http.ResponseWriter) bool {
	s.mu.Lock()
	var limit Limit
	fail := 0
	if len(s.limitNext) > 0 {
		limit, s.limitNext = s.limitNext[0], s.limitNext[1:]
	} else if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	now, retry := s.now(), s.retryAfter
	s.mu.Unlock()
	reset := now.Add(time.Hour).Truncate(time.Second)
	switch limit {
	case Primary:
		s.rateHeaders(w, 0, reset)
		writeError(w, http.StatusForbidden, "API rate limit exceeded for installation ID "+s.installationID+".")
	case Secondary:
		s.rateHeaders(w, RateLimit-1, reset)
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
		writeError(w, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
	case SecondaryNoHeader:
		writeError(w, http.StatusForbidden, "You have exceeded a secondary rate limit and have been temporarily blocked from content creation.")
	case TooMany:
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)))
		writeError(w, http.StatusTooManyRequests, "Too many requests")
	default:
		if fail == 0 {
			return false
		}
		writeError(w, fail, http.StatusText(fail))
	}
	return true
}

// rateHeaders writes the X-RateLimit-* headers.
func (s *Server) rateHeaders(w http.ResponseWriter, remaining int, reset time.Time) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(RateLimit-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// writeJSON answers v with an ETag; a matching If-None-Match gets a 304 that
// spends no rate limit.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	body, _ := json.Marshal(v)
	s.writeBody(w, r, code, "application/json; charset=utf-8", body)
}

func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, code int, ctype string, body []byte) {
	sum := sha256.Sum256(append([]byte(r.Header.Get("Accept")+"\x00"), body...))
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	s.mu.Lock()
	now := s.now()
	if !now.Before(s.resetAt) { // a new hourly window
		s.remaining, s.resetAt = RateLimit, now.Add(time.Hour).Truncate(time.Second)
	}
	notModified := r.Method == http.MethodGet && etagMatch(r.Header.Get("If-None-Match"), etag)
	if !notModified && s.remaining > 0 {
		s.remaining--
	}
	remaining, reset := s.remaining, s.resetAt
	s.mu.Unlock()
	s.rateHeaders(w, remaining, reset)
	if r.Method == http.MethodGet {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
	}
	if notModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// etagMatch compares If-None-Match with an ETag weakly, as GitHub does.
func etagMatch(inm, etag string) bool {
	if inm == "" {
		return false
	}
	strip := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for c := range strings.SplitSeq(inm, ",") {
		if strings.TrimSpace(c) == "*" || strip(c) == strip(etag) {
			return true
		}
	}
	return false
}

// wire renders an item as GitHub's issue (or search item) object.
func (s *Server) wire(it *Item) map[string]any {
	base := s.srv.URL
	labels := []map[string]any{}
	for i, l := range it.Labels {
		labels = append(labels, map[string]any{"id": i + 1, "name": l, "color": "ededed"})
	}
	var body any = it.Body
	if it.NullBody {
		body = nil
	}
	kind := "issues"
	if it.PullRequest {
		kind = "pull"
	}
	m := map[string]any{
		"url":            fmt.Sprintf("%s/repos/%s/%s/issues/%d", base, it.Org, it.Repo, it.Number),
		"repository_url": fmt.Sprintf("%s/repos/%s/%s", base, it.Org, it.Repo),
		"html_url":       fmt.Sprintf("https://github.com/%s/%s/%s/%d", it.Org, it.Repo, kind, it.Number),
		"number":         it.Number,
		"title":          it.Title,
		"body":           body,
		"user":           map[string]any{"login": it.Author, "type": "User"},
		"state":          it.state(),
		"labels":         labels,
		"comments":       it.Comments,
		"draft":          it.Draft,
		"updated_at":     it.updated().Format(time.RFC3339),
	}
	if it.PullRequest {
		m["pull_request"] = map[string]any{"url": fmt.Sprintf("%s/repos/%s/%s/pulls/%d", base, it.Org, it.Repo, it.Number)}
	}
	return m
}

func (it *Item) updated() time.Time {
	if it.UpdatedAt.IsZero() {
		return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return it.UpdatedAt.UTC()
}

// search answers /search/issues.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, _ := strconv.Atoi(q.Get("per_page"))
	if perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	if strings.TrimSpace(q.Get("q")) == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	s.mu.Lock()
	var hits []map[string]any
	for _, it := range s.items {
		if matches(it, q.Get("q")) {
			hits = append(hits, s.wire(it))
		}
	}
	s.mu.Unlock()
	total := len(hits)
	from := min((page-1)*perPage, total)
	to := min(from+perPage, total)
	last := max(1, (total+perPage-1)/perPage)
	link := func(p int, rel string) string {
		v := url.Values{"q": {q.Get("q")}, "per_page": {strconv.Itoa(perPage)}, "page": {strconv.Itoa(p)}}
		return fmt.Sprintf(`<%s/search/issues?%s>; rel="%s"`, s.srv.URL, v.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	items := hits[from:to]
	if items == nil {
		items = []map[string]any{}
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"total_count": total, "incomplete_results": false, "items": items})
}

// matches applies the search qualifiers Steward sends.
func matches(it *Item, query string) bool {
	for word := range strings.FieldsSeq(query) {
		k, v, ok := strings.Cut(word, ":")
		if !ok {
			continue
		}
		has := func(list []string) bool {
			return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
		}
		switch strings.ToLower(k) {
		case "is":
			switch v {
			case "pr":
				if !it.PullRequest {
					return false
				}
			case "issue":
				if it.PullRequest {
					return false
				}
			case "open", "closed":
				if it.state() != v {
					return false
				}
			}
		case "author":
			if !strings.EqualFold(it.Author, v) {
				return false
			}
		case "assignee":
			if !has(it.Assignees) {
				return false
			}
		case "review-requested":
			if !has(it.Reviewers) {
				return false
			}
		case "mentions":
			if !has(it.Mentions) {
				return false
			}
		case "draft":
			if strconv.FormatBool(it.Draft) != v {
				return false
			}
		case "org":
			if !strings.EqualFold(it.Org, v) {
				return false
			}
		case "repo":
			if !strings.EqualFold(it.Org+"/"+it.Repo, v) {
				return false
			}
		}
	}
	return true
}

// item answers a pull request, its diff, or an issue.
func (s *Server) item(w http.ResponseWriter, r *http.Request, org, repo, kind string, n int) {
	s.mu.Lock()
	it := s.find(org, repo, n)
	var cp Item
	var wire map[string]any
	if it != nil {
		cp = *it
		wire = s.wire(it)
	}
	s.mu.Unlock()
	if it == nil || (kind == "pulls" && !cp.PullRequest) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if kind == "issues" {
		s.writeJSON(w, r, http.StatusOK, wire)
		return
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/vnd.github.diff") || strings.Contains(accept, "application/vnd.github.v3.diff") {
		s.writeBody(w, r, http.StatusOK, "application/vnd.github.diff; charset=utf-8", []byte(cp.Diff))
		return
	}
	delete(wire, "pull_request")
	wire["merged"] = cp.Merged
	wire["additions"] = cp.Additions
	wire["deletions"] = cp.Deletions
	wire["changed_files"] = cp.Files
	wire["head"] = map[string]any{"sha": fmt.Sprintf("%040x", n), "ref": "topic"}
	wire["url"] = fmt.Sprintf("%s/repos/%s/%s/pulls/%d", s.srv.URL, cp.Org, cp.Repo, n)
	s.writeJSON(w, r, http.StatusOK, wire)
}

// createIssue answers POST /repos/{o}/{r}/issues.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request, org, repo string) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in map[string]any
	if err != nil || json.Unmarshal(raw, &in) != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	title, _ := in["title"].(string)
	if title == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"message":"Validation Failed","errors":[{"resource":"Issue","code":"missing_field","field":"title"}]}`))
		return
	}
	body, hadBody := in["body"].(string)
	s.mu.Lock()
	n := 1
	for _, it := range s.items {
		if strings.EqualFold(it.Org, org) && strings.EqualFold(it.Repo, repo) && it.Number >= n {
			n = it.Number + 1
		}
	}
	it := &Item{Org: org, Repo: repo, Number: n, Title: title, Body: body, Author: "steward[bot]", UpdatedAt: s.now()}
	s.items = append(s.items, it)
	s.created = append(s.created, Created{Org: org, Repo: repo, Title: title, Body: body, Number: n, HadBody: hadBody})
	wire := s.wire(it)
	s.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("%s/repos/%s/%s/issues/%d", s.srv.URL, org, repo, n))
	s.writeJSON(w, r, http.StatusCreated, wire)
}
