package githubfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sign makes an App JWT for the fake's key with the given claims.
func sign(t *testing.T, s *Server, iss string, iat, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: iss, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func call(t *testing.T, method, url, bearer string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("User-Agent", "test")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestTokenExchangeVerifiesJWT(t *testing.T) {
	s := New()
	defer s.Close()
	other := GenerateKey()
	now := time.Now()
	exURL := s.URL() + "/app/installations/" + s.InstallationID() + "/access_tokens"
	otherJWT, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: s.AppID(),
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}).SignedString(other)
	tests := []struct {
		name, url, jwt string
		status         int
	}{
		{"valid", exURL, sign(t, s, s.AppID(), now.Add(-time.Minute), now.Add(9*time.Minute)), 201},
		{"wrong iss", exURL, sign(t, s, "999", now.Add(-time.Minute), now.Add(9*time.Minute)), 401},
		{"expired", exURL, sign(t, s, s.AppID(), now.Add(-20*time.Minute), now.Add(-11*time.Minute)), 401},
		{"exp too far", exURL, sign(t, s, s.AppID(), now.Add(-time.Minute), now.Add(20*time.Minute)), 401},
		{"other key", exURL, otherJWT, 401},
		{"no jwt", exURL, "", 401},
		{"unknown installation", s.URL() + "/app/installations/1/access_tokens", sign(t, s, s.AppID(), now.Add(-time.Minute), now.Add(9*time.Minute)), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, http.MethodPost, tt.url, tt.jwt, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	if s.Exchanges() != 1 {
		t.Fatalf("exchanges = %d, want 1", s.Exchanges())
	}
}

func TestSearchPaginationAndETag(t *testing.T) {
	var items []Item
	for i := 1; i <= 250; i++ {
		items = append(items, Item{Org: "o", Repo: "r", Number: i, PullRequest: true, Author: "me", Title: fmt.Sprint("pr ", i)})
	}
	s := New(WithItems(items...))
	defer s.Close()
	now := time.Now()
	_, body := call(t, http.MethodPost, s.URL()+"/app/installations/"+s.InstallationID()+"/access_tokens",
		sign(t, s, s.AppID(), now.Add(-time.Minute), now.Add(9*time.Minute)), nil)
	var tok struct{ Token string }
	_ = json.Unmarshal(body, &tok)

	next := s.URL() + "/search/issues?q=is%3Apr+author%3Ame&per_page=100"
	got, pages, etag := 0, 0, ""
	for next != "" {
		resp, body := call(t, http.MethodGet, next, tok.Token, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if pages == 0 {
			etag = resp.Header.Get("ETag")
		}
		var page struct{ Items []map[string]any }
		_ = json.Unmarshal(body, &page)
		got += len(page.Items)
		pages++
		next = ""
		for part := range strings.SplitSeq(resp.Header.Get("Link"), ",") {
			if strings.Contains(part, `rel="next"`) {
				next = strings.Trim(strings.TrimSpace(strings.Split(part, ";")[0]), "<>")
			}
		}
	}
	if got != 250 || pages != 3 {
		t.Fatalf("got %d items in %d pages, want 250 in 3", got, pages)
	}
	resp, _ := call(t, http.MethodGet, s.URL()+"/search/issues?q=is%3Apr+author%3Ame&per_page=100", tok.Token, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional search: %d, want 304", resp.StatusCode)
	}
	resp, _ = call(t, http.MethodGet, s.URL()+"/search/issues?q=x", "ghs_nope", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("bad token: %d, want 401", resp.StatusCode)
	}
	log := s.Requests()
	if len(log) != 6 || !log[1].Token || log[5].Token || !log[0].JWT {
		t.Fatalf("request log: %+v", log)
	}
}
