package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/testkit/githubfake"
)

func TestAppJWTClaimsAndKeyForms(t *testing.T) {
	fake := githubfake.New(githubfake.WithKey(appKey()))
	defer fake.Close()
	now := time.Unix(1_800_000_000, 0)
	tests := []struct{ name, pem string }{
		{"PKCS#1 RSA PRIVATE KEY", fake.PrivateKeyPKCS1()},
		{"PKCS#8 PRIVATE KEY", fake.PrivateKeyPKCS8()},
		{"PKCS#1 with literal \\n", strings.ReplaceAll(fake.PrivateKeyPKCS1(), "\n", `\n`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := client.ParsePrivateKey(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := client.AppJWT("12345", key, now)
			if err != nil {
				t.Fatal(err)
			}
			claims := &jwt.RegisteredClaims{}
			tok, err := jwt.ParseWithClaims(signed, claims, func(*jwt.Token) (any, error) { return fake.PublicKey(), nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tok.Header["alg"] != "RS256" || tok.Header["typ"] != "JWT" {
				t.Errorf("header %v", tok.Header)
			}
			if claims.Issuer != "12345" {
				t.Errorf("iss %q", claims.Issuer)
			}
			if got := claims.IssuedAt.Unix(); got != now.Unix()-60 {
				t.Errorf("iat %d, want now-60", got)
			}
			if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got > 10*time.Minute || claims.ExpiresAt.Unix() <= now.Unix() {
				t.Errorf("exp-iat %s, exp %d", got, claims.ExpiresAt.Unix())
			}
		})
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	rsaPEM := githubfake.New(githubfake.WithKey(appKey()))
	defer rsaPEM.Close()
	good := rsaPEM.PrivateKeyPKCS1()
	corrupt := strings.Replace(good, "\n", "\nAAAA", 2)
	tests := []struct{ name, pem, want string }{
		{"not PEM", "hunter2-not-a-key", "not PEM"},
		{"empty", "", "not PEM"},
		{"EC key", ecPEM, "RSA"},
		{"certificate block", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "CERTIFICATE"},
		{"corrupt PKCS#1", corrupt, "PKCS#1"},
		{"PKCS#1 bytes labelled PKCS#8", strings.ReplaceAll(good, "RSA PRIVATE KEY", "PRIVATE KEY"), "PKCS#8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ParsePrivateKey(tt.pem)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tt.want)
			}
			if lines := strings.Split(good, "\n"); strings.Contains(err.Error(), lines[1][:20]) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error quotes the key: %v", err)
			}
		})
	}
}

func TestTokenCachedAcrossCallsAndGoroutines(t *testing.T) {
	e := setup(t, githubfake.WithItems(githubfake.Item{Org: "o", Repo: "r", Number: 1, Title: "t"}))
	ctx := context.Background()
	const workers, calls = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Go(func() {
			for range calls {
				if _, _, err := e.client.GetIssue(ctx, "o", "r", 1, ""); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := e.fake.Exchanges(); got != 1 {
		t.Fatalf("%d token exchanges for %d calls, want 1", got, workers*calls)
	}
	if got := e.tokens.Exchanges(); got != 1 {
		t.Fatalf("token source started %d exchanges, want 1", got)
	}
	e.checkClean(t, nil)
}

func TestTokenRefreshedShortlyBeforeExpiry(t *testing.T) {
	e := setup(t, githubfake.WithTokenTTL(time.Hour))
	ctx := context.Background()
	first, err := e.tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance   time.Duration
		exchanges int
		same      bool
	}{
		{30 * time.Minute, 1, true},                // half-way: cached
		{24*time.Minute + 59*time.Second, 1, true}, // 54m59s: still outside the 5-minute margin
		{2 * time.Second, 2, false},                // 55m01s: refreshed before expiry
		{10 * time.Minute, 2, true},                // the new token is good for another hour
	}
	prev := first
	for i, s := range steps {
		e.clock.Advance(s.advance)
		tok, err := e.tokens.Token(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := e.fake.Exchanges(); got != s.exchanges {
			t.Fatalf("step %d: %d exchanges, want %d", i, got, s.exchanges)
		}
		if (tok.Value == prev.Value) != s.same {
			t.Fatalf("step %d: token reused = %v, want %v", i, tok.Value == prev.Value, s.same)
		}
		prev = tok
	}
	// The refreshed token works against the API.
	if _, err := e.client.Search(ctx, "is:pr", client.SearchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthFailuresArePermanent(t *testing.T) {
	other := githubfake.GenerateKey()
	otherPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}))
	tests := []struct {
		name    string
		appID   string
		inst    string
		key     func(*githubfake.Server) string
		revoke  bool
		atNew   bool // refused by NewTokenSource, before any request
		cause   error
		message string
	}{
		{"unparsable key", "", "", func(*githubfake.Server) string {
			return "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"
		},
			false, true, client.ErrAuth, "private_key"},
		{"wrong app id", "999", "", nil, false, false, client.ErrAuth, "check app_id (999)"},
		{"key of another App", "", "", func(*githubfake.Server) string { return otherPEM }, false, false, client.ErrAuth, "private_key belongs to that App"},
		{"unknown installation", "", "4242", nil, false, false, client.ErrNotFound, "installation 4242 not found"},
		{"revoked installation", "", "", nil, true, false, client.ErrNotFound, "uninstalled"},
		{"installation id not digits", "", "abc/../x", nil, false, true, client.ErrConfig, "installation_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			appID, inst, key := e.fake.AppID(), e.fake.InstallationID(), e.fake.PrivateKeyPKCS1()
			if tt.appID != "" {
				appID = tt.appID
			}
			if tt.inst != "" {
				inst = tt.inst
			}
			if tt.key != nil {
				key = tt.key(e.fake)
			}
			if tt.revoke {
				e.fake.Revoke()
			}
			ts, err := client.NewTokenSource(client.TokenOptions{Integration: "github.work", BaseURL: e.fake.URL(),
				AppID: appID, InstallationID: inst, PrivateKey: key, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
			if err == nil {
				if tt.atNew {
					t.Fatal("NewTokenSource accepted the config")
				}
				_, err = ts.Token(context.Background())
				// A second caller gets the remembered failure, not a new exchange.
				_, err2 := ts.Token(context.Background())
				if err2 == nil || ts.Exchanges() != 1 {
					t.Fatalf("second call: %v after %d exchanges, want the same failure after 1", err2, ts.Exchanges())
				}
			} else if !tt.atNew {
				t.Fatalf("NewTokenSource: %v", err)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !client.IsPermanent(err) || client.IsTransient(err) {
				t.Errorf("not permanent: %v", err)
			}
			if _, limited := client.RetryAfter(err); limited {
				t.Errorf("rate limited: %v", err)
			}
			if !errors.Is(err, tt.cause) {
				t.Errorf("%v is not %v", err, tt.cause)
			}
			if !strings.HasPrefix(err.Error(), "github.work: ") || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q, want github.work: … %s …", err, tt.message)
			}
			if strings.Contains(err.Error(), "nope") || strings.Contains(err.Error(), strings.Split(otherPEM, "\n")[1][:20]) {
				t.Errorf("message quotes the key: %q", err)
			}
			e.checkClean(t, err)
		})
	}
}

func TestRevokedTokenIsDroppedAndRetried(t *testing.T) {
	e := setup(t, githubfake.WithItems(githubfake.Item{Org: "o", Repo: "r", Number: 1}))
	ctx := context.Background()
	if _, _, err := e.client.GetIssue(ctx, "o", "r", 1, ""); err != nil {
		t.Fatal(err)
	}
	e.fake.Revoke()
	_, _, err := e.client.GetIssue(ctx, "o", "r", 1, "")
	if !client.IsTransient(err) || !errors.Is(err, client.ErrAuth) {
		t.Fatalf("refused token: %v, want transient ErrAuth", err)
	}
	// The next attempt exchanges again and learns the installation is gone.
	_, _, err = e.client.GetIssue(ctx, "o", "r", 1, "")
	if !client.IsPermanent(err) || !strings.Contains(err.Error(), "not found for App") {
		t.Fatalf("after revocation: %v, want a permanent installation error", err)
	}
	if got := e.fake.Exchanges(); got != 1 {
		t.Fatalf("%d successful exchanges, want 1", got)
	}
	e.checkClean(t, err)
}

func TestConcurrentRefreshIsOneExchange(t *testing.T) {
	e := setup(t, githubfake.WithTokenTTL(time.Hour))
	ctx := context.Background()
	if _, err := e.tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	e.fake.SetExchangeLatency(50 * time.Millisecond)
	e.clock.Advance(58 * time.Minute) // inside the refresh margin
	var wg sync.WaitGroup
	tokens := make(chan string, 32)
	for range 32 {
		wg.Go(func() {
			tok, err := e.tokens.Token(ctx)
			if err != nil {
				t.Error(err)
			}
			tokens <- tok.Value
		})
	}
	wg.Wait()
	close(tokens)
	seen := map[string]bool{}
	for v := range tokens {
		seen[v] = true
	}
	if got := e.fake.Exchanges(); got != 2 || len(seen) != 1 {
		t.Fatalf("%d exchanges, %d distinct tokens; want 2 and 1", got, len(seen))
	}
}

func TestRefreshFailureKeepsTheOldToken(t *testing.T) {
	e := setup(t, githubfake.WithTokenTTL(time.Hour))
	ctx := context.Background()
	first, err := e.tokens.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(57 * time.Minute)
	e.fake.FailExchangeNext(502, 502)
	tok, err := e.tokens.Token(ctx)
	if err != nil || tok.Value != first.Value {
		t.Fatalf("early refresh failed: %v, old token kept %v", err, tok.Value == first.Value)
	}
	e.clock.Advance(2*time.Minute + time.Second) // under a minute left: no fallback
	_, err = e.tokens.Token(ctx)
	if !client.IsTransient(err) || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("late refresh failure: %v, want a transient 502", err)
	}
	if _, err = e.tokens.Token(ctx); err != nil {
		t.Fatalf("recovered exchange: %v", err)
	}
	e.checkClean(t, err)
}

func TestCallerLeavingDoesNotFailOthers(t *testing.T) {
	e := setup(t)
	e.fake.SetExchangeLatency(100 * time.Millisecond)
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var patient error
	wg.Go(func() { _, patient = e.tokens.Token(context.Background()) })
	_, err := e.tokens.Token(short)
	if !client.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v", err)
	}
	wg.Wait()
	if patient != nil || e.fake.Exchanges() != 1 || e.tokens.Exchanges() != 1 {
		t.Fatalf("patient caller: %v after %d exchanges", patient, e.fake.Exchanges())
	}
}

func TestTokenPool(t *testing.T) {
	fake := githubfake.New(githubfake.WithKey(appKey()))
	defer fake.Close()
	var pool client.TokenPool
	o := client.TokenOptions{Integration: "github.work", BaseURL: fake.URL(), AppID: fake.AppID(),
		InstallationID: fake.InstallationID(), PrivateKey: fake.PrivateKeyPKCS1()}
	a, err := pool.Get(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pool.Get(o)
	o.PrivateKey = fake.PrivateKeyPKCS8() // same key, another form: a config change all the same
	c, _ := pool.Get(o)
	o.Integration = "github.home"
	d, _ := pool.Get(o)
	if a != b || a == c || c == d {
		t.Fatalf("pool identities: a==b %v a==c %v c==d %v", a == b, a == c, c == d)
	}
	if _, err := pool.Get(client.TokenOptions{Integration: "github.bad", AppID: "1", InstallationID: "2", PrivateKey: "x"}); !client.IsPermanent(err) {
		t.Fatalf("bad key: %v", err)
	}
}
