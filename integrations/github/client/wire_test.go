package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/testkit/githubfake"
)

// TestWireEdges drives the client against a hand-rolled server: headers,
// links and redirects to another host, oversized and malformed answers.
func TestWireEdges(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	defer foreign.Close()
	var badHeaders atomic.Value
	badHeaders.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/app/installations/") {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"token":"ghs_secret_token_value","expires_at":"2099-01-01T00:00:00Z"}`)
			return
		}
		want := map[string]string{"Authorization": "Bearer ghs_secret_token_value", "X-GitHub-Api-Version": client.APIVersion, "User-Agent": client.UserAgent}
		for k, v := range want {
			if r.Header.Get(k) != v {
				badHeaders.Store(k + "=" + r.Header.Get(k))
			}
		}
		switch r.URL.Path {
		case "/search/issues":
			w.Header().Set("Link", "<"+foreign.URL+`/search/issues?page=2>; rel="next"`)
			_, _ = io.WriteString(w, `{"total_count":2,"items":[{"repository_url":"https://x/repos/o/r","number":1}]}`)
		case "/repos/o/r/pulls/1":
			http.Redirect(w, r, foreign.URL+"/repos/o/r/pulls/1", http.StatusMovedPermanently)
		case "/repos/o/r/pulls/2":
			http.Redirect(w, r, "/repos/o/renamed/pulls/2", http.StatusMovedPermanently)
		case "/repos/o/renamed/pulls/2":
			_, _ = io.WriteString(w, `{"title":"moved","state":"open"}`)
		case "/repos/o/r/issues/1":
			_, _ = io.WriteString(w, `{"title":"`+strings.Repeat("x", 2000)+`"}`)
		case "/repos/o/r/issues/2":
			_, _ = io.WriteString(w, `<html>proxy</html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	log := slog.New(slog.DiscardHandler)
	ts, err := client.NewTokenSource(client.TokenOptions{Integration: "github.work", BaseURL: srv.URL + "/", AppID: "1", InstallationID: "2",
		PrivateKey: githubfakeKey(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{Integration: "github.work", BaseURL: srv.URL + "/", Tokens: ts, MaxResponseBytes: 1000, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		cause error
	}{
		{"link to another host", func() error { _, err := c.Search(ctx, "is:pr", client.SearchOptions{}); return err }, client.ErrMalformedResponse},
		{"redirect to another host", func() error { _, _, err := c.GetPull(ctx, "o", "r", 1, ""); return err }, client.ErrStatus},
		{"redirect on the same host", func() error { _, _, err := c.GetPull(ctx, "o", "r", 2, ""); return err }, nil},
		{"oversized answer", func() error { _, _, err := c.GetIssue(ctx, "o", "r", 1, ""); return err }, client.ErrTooLarge},
		{"not JSON", func() error { _, _, err := c.GetIssue(ctx, "o", "r", 2, ""); return err }, client.ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.cause == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.cause) || !strings.HasPrefix(err.Error(), "github.work: ") || strings.Contains(err.Error(), "ghs_secret") {
				t.Fatalf("%v, want %v", err, tt.cause)
			}
		})
	}
	if n := foreignHits.Load(); n != 0 {
		t.Fatalf("the other host was called %d times", n)
	}
	if h := badHeaders.Load().(string); h != "" {
		t.Fatalf("header %s", h)
	}
}

// githubfakeKey is the shared test key as PKCS#1 PEM.
func githubfakeKey(t *testing.T) string {
	f := githubfake.New(githubfake.WithKey(appKey()))
	defer f.Close()
	return f.PrivateKeyPKCS1()
}
