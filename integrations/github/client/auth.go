package client

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT timing, as GitHub asks: iat a minute in the past against clock drift,
// exp at most ten minutes after iat.
const (
	JWTBackdate = 60 * time.Second
	JWTLifetime = 9 * time.Minute // from now: exp - iat = 10 minutes
)

// DefaultRefreshBefore is how long before its expires_at a cached
// installation token is replaced.
const DefaultRefreshBefore = 5 * time.Minute

// failureHold is how long a permanent exchange failure is remembered, so that
// a burst of tasks does not each ask GitHub again with the same bad config.
const failureHold = time.Minute

// ParsePrivateKey reads a GitHub App private key: PEM, either PKCS#1 ("RSA
// PRIVATE KEY", what GitHub hands out) or PKCS#8 ("PRIVATE KEY") holding an
// RSA key. A key pasted with literal "\n" sequences instead of line breaks is
// accepted. The error never quotes the key.
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	text := strings.TrimSpace(pemText)
	if !strings.Contains(text, "\n") && strings.Contains(text, `\n`) {
		text = strings.ReplaceAll(text, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("private_key is not PEM (want the .pem file GitHub generated for the App, \"-----BEGIN RSA PRIVATE KEY-----\")")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("private_key: the RSA PRIVATE KEY block does not parse as PKCS#1")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("private_key: the PRIVATE KEY block does not parse as PKCS#8")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private_key: a %T key; GitHub Apps sign with RSA", k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("private_key: a PEM block of type %q; want RSA PRIVATE KEY or PRIVATE KEY", quoteSafe(block.Type))
	}
}

// AppJWT signs the App's JWT: RS256, iss = appID, iat = now-60s, exp =
// now+9m.
func AppJWT(appID string, key *rsa.PrivateKey, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    appID,
		IssuedAt:  jwt.NewNumericDate(now.Add(-JWTBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(JWTLifetime)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
}

// Token is an installation access token and when it expires.
type Token struct {
	// Value is the token; never log it.
	Value string
	// ExpiresAt is GitHub's expires_at.
	ExpiresAt time.Time
}

// TokenOptions configure a [TokenSource].
type TokenOptions struct {
	// Integration is the instance id, e.g. "github.work"; every error starts
	// with it.
	Integration string
	// BaseURL is api_url ("" = DefaultBaseURL).
	BaseURL string
	// AppID is the GitHub App id (the JWT iss). Required.
	AppID string
	// InstallationID is the installation's numeric id. Required.
	InstallationID string
	// PrivateKey is the App's PEM private key. Required.
	PrivateKey string
	// RefreshBefore is how long before expires_at a token is replaced (0 =
	// DefaultRefreshBefore).
	RefreshBefore time.Duration
	// Timeout bounds one exchange (0 = DefaultTimeout).
	Timeout time.Duration
	// HTTPClient sends the exchange (nil = a client of its own).
	HTTPClient *http.Client
	// Now is the clock (nil = time.Now); tests inject one.
	Now func() time.Time
	// Logger receives one line per exchange (nil = slog.Default()).
	Logger *slog.Logger
}

// TokenSource mints installation tokens and caches one until RefreshBefore
// ahead of its expiry. It is safe for concurrent use: callers arriving while
// an exchange runs wait for that exchange rather than starting their own.
// Keep one per integration instance for the life of the process.
type TokenSource struct {
	integration    string
	endpoint       string
	appID          string
	installationID string
	key            *rsa.PrivateKey
	refreshBefore  time.Duration
	timeout        time.Duration
	http           *http.Client
	now            func() time.Time
	log            *slog.Logger

	mu        sync.Mutex
	tok       Token
	inflight  *exchange
	failed    error     // a permanent failure ...
	failedAt  time.Time // ... remembered until failedAt+failureHold
	exchanges int
}

// exchange is one token exchange in flight; done closes when tok/err are set.
type exchange struct {
	done chan struct{}
	tok  Token
	err  error
}

// NewTokenSource checks the options and parses the key. It does not contact
// GitHub. Errors are permanent [*Error]s wrapping ErrConfig or ErrAuth.
func NewTokenSource(o TokenOptions) (*TokenSource, error) {
	cfgErr := func(cause error, msg string) error {
		return &Error{Integration: o.Integration, Err: cause, msg: msg}
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if err := CheckBaseURL(o.BaseURL); err != nil {
		return nil, cfgErr(ErrConfig, "api_url: "+err.Error())
	}
	if err := CheckAppID(o.AppID); err != nil {
		return nil, cfgErr(ErrConfig, "app_id: "+err.Error())
	}
	if err := CheckInstallationID(o.InstallationID); err != nil {
		return nil, cfgErr(ErrConfig, "installation_id: "+err.Error())
	}
	if strings.TrimSpace(o.PrivateKey) == "" {
		return nil, cfgErr(ErrConfig, "no private_key: set private_key: !secret <name> (the App's PEM key in secrets.yaml)")
	}
	key, err := ParsePrivateKey(o.PrivateKey)
	if err != nil {
		return nil, cfgErr(fmt.Errorf("%w: %w", ErrAuth, ErrConfig), err.Error())
	}
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &TokenSource{
		integration:    o.Integration,
		endpoint:       strings.TrimRight(o.BaseURL, "/") + "/app/installations/" + o.InstallationID + "/access_tokens",
		appID:          o.AppID,
		installationID: o.InstallationID,
		key:            key,
		refreshBefore:  o.RefreshBefore,
		timeout:        o.Timeout,
		http:           noForeignRedirects(o.HTTPClient, o.BaseURL),
		now:            o.Now,
		log:            o.Logger,
	}, nil
}

// Token returns a valid installation token: the cached one, or a new one
// when none is cached or the cached one expires within RefreshBefore (if
// that early refresh fails transiently, the old token is returned while it
// has more than a minute left). ctx
// bounds only this caller's wait; the exchange itself runs to its own
// timeout so that other waiters are not failed by one caller leaving.
func (s *TokenSource) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	now := s.now()
	if s.tok.Value != "" && now.Before(s.tok.ExpiresAt.Add(-s.refreshBefore)) {
		t := s.tok
		s.mu.Unlock()
		return t, nil
	}
	if s.failed != nil && now.Before(s.failedAt.Add(failureHold)) {
		err := s.failed
		s.mu.Unlock()
		return Token{}, err
	}
	old := s.tok
	x := s.inflight
	if x == nil {
		x = &exchange{done: make(chan struct{})}
		s.inflight = x
		s.exchanges++
		go s.run(context.WithoutCancel(ctx), x)
	}
	s.mu.Unlock()
	select {
	case <-x.done:
		if x.err != nil && !IsPermanent(x.err) && old.Value != "" && s.now().Before(old.ExpiresAt.Add(-time.Minute)) {
			// An early refresh failed for now; the old token still works.
			return old, nil
		}
		return x.tok, x.err
	case <-ctx.Done():
		return Token{}, &Error{Integration: s.integration, Transient: true, Err: ctx.Err(),
			msg: "waiting for an installation token: " + ctx.Err().Error()}
	}
}

// Exchanges is how many token exchanges this source has started.
func (s *TokenSource) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

// Invalidate drops the cached token if it is still value (GitHub refused
// it), so that the next Token call exchanges again.
func (s *TokenSource) Invalidate(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Value == value {
		s.tok = Token{}
	}
}

// run performs one exchange and publishes its outcome.
func (s *TokenSource) run(ctx context.Context, x *exchange) {
	tok, err := s.exchange(ctx)
	s.mu.Lock()
	x.tok, x.err = tok, err
	if err == nil {
		s.tok, s.failed = tok, nil
	} else if IsPermanent(err) {
		s.failed, s.failedAt = err, s.now()
	}
	s.inflight = nil
	s.mu.Unlock()
	close(x.done)
}

// exchange mints a JWT and trades it for an installation token.
func (s *TokenSource) exchange(ctx context.Context) (Token, error) {
	now := s.now()
	signed, err := AppJWT(s.appID, s.key, now)
	if err != nil {
		return Token{}, &Error{Integration: s.integration, Err: fmt.Errorf("%w: %w", ErrAuth, ErrConfig),
			msg: "cannot sign the App JWT with private_key"}
	}
	rctx, cancel := context.WithTimeoutCause(ctx, s.timeout, ErrTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, s.endpoint, http.NoBody)
	if err != nil {
		return Token{}, &Error{Integration: s.integration, Err: ErrConfig, msg: "cannot build the token request"}
	}
	setHeaders(req, signed)
	start := time.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		e := transportError(s.integration, ctx, rctx, s.timeout, err, signed)
		s.log.Warn("github token exchange failed", "integration", s.integration, "transient", e.Transient, "error", e.Error())
		return Token{}, e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Token{}, transportError(s.integration, ctx, rctx, s.timeout, err, signed)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		e := s.exchangeError(resp, body, signed)
		s.log.Warn("github token exchange refused", "integration", s.integration, "status", resp.StatusCode,
			"transient", e.Transient, "error", e.Error())
		return Token{}, e
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" || strings.ContainsAny(out.Token, " \r\n\t") {
		return Token{}, &Error{Integration: s.integration, Transient: true, Status: resp.StatusCode, Err: ErrMalformedResponse,
			msg: "the token exchange answered without a token"}
	}
	if out.ExpiresAt.IsZero() {
		out.ExpiresAt = now.Add(time.Hour) // GitHub's documented lifetime
	}
	s.log.Info("github installation token", "integration", s.integration, "installation", s.installationID,
		"expires_at", out.ExpiresAt.UTC().Format(time.RFC3339), "duration", time.Since(start).Round(time.Millisecond))
	return Token{Value: out.Token, ExpiresAt: out.ExpiresAt}, nil
}

// exchangeError types a refused exchange: a key, app id or installation
// problem is permanent and says which setting to check.
func (s *TokenSource) exchangeError(resp *http.Response, body []byte, jwtText string) *Error {
	code := resp.StatusCode
	message := quoteSafe(githubMessage(body), jwtText)
	if e := rateLimitError(s.integration, resp, message, s.now()); e != nil {
		e.msg = "token exchange: " + e.msg
		return e
	}
	e := &Error{Integration: s.integration, Transient: transientStatus(code), Status: code, Err: ErrStatus}
	switch code {
	case http.StatusUnauthorized:
		e.Err = fmt.Errorf("%w: %w", ErrAuth, ErrStatus)
		e.msg = fmt.Sprintf("GitHub refused the App JWT (HTTP 401): check app_id (%s) and that private_key belongs to that App", s.appID)
	case http.StatusNotFound:
		e.Err = fmt.Errorf("%w: %w", ErrAuth, ErrNotFound)
		e.msg = fmt.Sprintf("installation %s not found for App %s (HTTP 404): the App was uninstalled or installation_id is wrong", s.installationID, s.appID)
	case http.StatusForbidden:
		e.Err = fmt.Errorf("%w: %w", ErrAuth, ErrStatus)
		e.msg = fmt.Sprintf("installation %s may not get a token (HTTP 403): it may be suspended", s.installationID)
	default:
		e.msg = fmt.Sprintf("token exchange: HTTP %d %s", code, http.StatusText(code))
	}
	if message != "" {
		e.msg += ": " + message
	}
	return e
}

// setHeaders puts GitHub's common headers and the bearer credential on req.
func setHeaders(req *http.Request, bearer string) {
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", MediaJSON)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", UserAgent)
}

// CheckAppID validates an app_id: GitHub's numeric App id or its client id
// (Iv1.…, Iv23…), which GitHub also accepts as the JWT iss.
func CheckAppID(s string) error {
	if s == "" {
		return errors.New("required: the GitHub App's id (App settings → About → App ID)")
	}
	if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '_' || r == '-')
	}) >= 0 {
		return fmt.Errorf("%q is not an App id (digits, e.g. 123456)", clip(s))
	}
	return nil
}

// CheckInstallationID validates an installation_id: digits.
func CheckInstallationID(s string) error {
	if s == "" || len(s) > 20 || strings.Trim(s, "0123456789") != "" {
		return fmt.Errorf("%q is not an installation id (digits, from the installation's settings URL)", clip(s))
	}
	return nil
}

// jsonBody encodes v for a request body.
func jsonBody(v any) (*bytes.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// TokenPool hands out one [TokenSource] per App installation and key, so
// that every task of an integration instance shares one cached token, and a
// config reload with a new key or id gets a new source. The zero value is
// ready to use; it is safe for concurrent use. Keep one per process (e.g. in
// the integration's struct).
type TokenPool struct {
	mu      sync.Mutex
	sources map[poolKey]*TokenSource
}

// poolKey identifies a source: everything that changes what it mints.
type poolKey struct {
	integration, baseURL, appID, installationID string
	keySum                                      [32]byte
}

// Get returns the source for o, creating it on first use. The options'
// HTTPClient, Now and Logger are taken from the first call.
func (p *TokenPool) Get(o TokenOptions) (*TokenSource, error) {
	base := o.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	k := poolKey{integration: o.Integration, baseURL: strings.TrimRight(base, "/"), appID: o.AppID,
		installationID: o.InstallationID, keySum: sha256.Sum256([]byte(strings.TrimSpace(o.PrivateKey)))}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sources[k]; ok {
		return s, nil
	}
	s, err := NewTokenSource(o)
	if err != nil {
		return nil, err
	}
	if p.sources == nil {
		p.sources = map[poolKey]*TokenSource{}
	}
	for old := range p.sources {
		if old.integration == k.integration {
			delete(p.sources, old) // the instance's config changed: drop the stale source
		}
	}
	p.sources[k] = s
	return s, nil
}
