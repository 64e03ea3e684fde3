// Package client is Steward's wire client of the Gemini API's generateContent
// method:
//
//	POST {api_url}/v1beta/models/{model}:generateContent
//	x-goog-api-key: <key>
//
// with the Google Search tool (tools: [{google_search: {}}]) for grounded
// answers, and generationConfig responseMimeType/responseSchema for structured
// output. It reads the answer text, the grounding sources
// (candidates[].groundingMetadata.groundingChunks[].web.{uri,title}) and the
// safety verdicts (promptFeedback.blockReason, finishReason SAFETY and kin).
//
// It is hand-written rather than built on google.golang.org/genai: that SDK
// links gRPC, OpenCensus and the Google Cloud auth stack into every Steward
// binary (a program that only creates a genai client builds to 20 MB; all
// Steward needs is one POST), reads GOOGLE_* environment variables as
// fallbacks, writes warnings through the standard log package and quotes whole
// response bodies in its errors. This package sends one request shape and
// checks everything it reads.
//
// What it guarantees:
//   - the API key travels only in the x-goog-api-key header, never in a URL,
//     and never appears in an error or a log line; redirects are refused, so
//     the header never follows one to another host;
//   - every call has a timeout and reads at most a bounded response;
//   - every error is an [*Error] that says whether retrying later may help
//     (429, 408, 5xx, timeouts, connection failures) or not (400, 401, 403,
//     404, a blocked prompt or answer, an oversized answer), prefixed with the
//     integration id, e.g. "gemini.research: the API key was refused (HTTP 403)".
//
// It never retries: the lane runtime (internal/msg) owns retries and backoff.
package client
