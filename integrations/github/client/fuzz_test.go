package client_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/stewardhq/steward/integrations/github/client"
)

// FuzzParseSearchPage: any body either parses (every item with a non-empty
// org and repo, items never nil) or gives a malformed-response *Error with a
// one-line message; it never panics.
func FuzzParseSearchPage(f *testing.F) {
	for _, seed := range []string{
		`{"total_count":1,"incomplete_results":false,"items":[{"repository_url":"https://api.github.com/repos/o/r","number":1,"title":"t","user":{"login":"u"},"labels":[{"name":"bug"}],"pull_request":{"url":"x"}}]}`,
		`{"items":[{"repository_url":"x"},{"repository_url":""},{"repository_url":"/"},{"repository_url":"a//"}]}`,
		`{"items":[{"user":null,"pull_request":null,"labels":null,"body":null}]}`,
		`{"items":null}`, `{"items":[1]}`, `{}`, `null`, `[]`, ``, `{"items":[{"number":"1"}]}`,
		`{"items":[{"repository_url":"https://x/repos/o/r","updated_at":"not a time"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		page, err := client.ParseSearchPage(data)
		if err != nil {
			if !errors.Is(err, client.ErrMalformedResponse) {
				t.Fatalf("unknown cause: %v", err)
			}
			if strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 {
				t.Fatalf("control character in %q", err.Error())
			}
			return
		}
		if page.Items == nil {
			t.Fatal("nil items")
		}
		for _, it := range page.Items {
			if it.Org == "" || it.Repo == "" || strings.Contains(it.Org, "/") || strings.Contains(it.Repo, "/") {
				t.Fatalf("item %+v", it)
			}
			if it.Labels == nil {
				t.Fatal("nil labels")
			}
		}
	})
}

// FuzzNextLink: NextLink never panics and returns either "" or a URL that
// appeared in the header between < and >.
func FuzzNextLink(f *testing.F) {
	f.Add(`<https://api.github.com/search/issues?page=2>; rel="next", <https://api.github.com/search/issues?page=3>; rel="last"`)
	f.Add(`<>; rel=next`)
	f.Add(`;;,,<`)
	f.Fuzz(func(t *testing.T, h string) {
		if got := client.NextLink(h); got != "" && !strings.Contains(h, "<"+got+">") {
			t.Fatalf("%q from %q", got, h)
		}
	})
}
