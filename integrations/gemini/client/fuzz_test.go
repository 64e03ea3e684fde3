package client_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/stewardhq/steward/integrations/gemini/client"
)

// FuzzParseResponse: any body either parses (sources never nil) or gives an
// *Error with a known cause and a one-line message; it never panics.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"a"},{"text":"b","thought":true}]},"finishReason":"STOP",` +
			`"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://x","title":"x"}},{}],"webSearchQueries":["q"]}}],` +
			`"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4},"modelVersion":"gemini-2.5-pro"}`,
		`{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_HATE_SPEECH","blocked":true}]}}`,
		`{"candidates":[{"finishReason":"SAFETY","safetyRatings":[{"category":"X\nY","blocked":true}]}]}`,
		`{"candidates":[]}`, `{}`, `null`, `[]`, `"text"`, ``, `{"candidates":[{"content":null,"groundingMetadata":null}]}`,
		`{"candidates":[{"content":{"parts":null}},{"groundingMetadata":{"groundingChunks":[{"web":{"uri":1}}]}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := client.ParseResponse(data)
		if err != nil {
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not a *client.Error", err)
			}
			if !errors.Is(err, client.ErrMalformedResponse) && !errors.Is(err, client.ErrBlocked) {
				t.Fatalf("unknown cause: %v", err)
			}
			if strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 {
				t.Fatalf("control character in %q", err.Error())
			}
			return
		}
		if resp.Sources == nil {
			t.Fatal("nil sources")
		}
	})
}
