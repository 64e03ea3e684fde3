// Package client is Steward's wire client of the GitHub REST API for the
// GitHub integration, authenticated as a GitHub App installation:
//
//	JWT (RS256, iss = app id, iat = now-60s, exp = now+9m) signed with the
//	App's private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY" PEM)
//	POST {api_url}/app/installations/{installation_id}/access_tokens
//	→ installation token, cached by a [TokenSource] until shortly before its
//	  expires_at and shared by every call made through it.
//
// The calls the pull-request and issue pipelines need: [Client.Search]
// (GET /search/issues, following Link rel="next" past 100 results),
// [Client.GetPull], [Client.GetPullDiff] (Accept: application/vnd.github.diff,
// at most a cap of bytes read), [Client.GetIssue] and [Client.CreateIssue]
// (POST /repos/{o}/{r}/issues). Every GET takes a stored ETag and sends
// If-None-Match; a 304 comes back as [Meta].NotModified (GitHub does not count
// it against the rate limit). api_url defaults to https://api.github.com
// (GitHub Enterprise Server: https://{host}/api/v3).
//
// It is hand-written rather than built on github.com/google/go-github with
// github.com/bradleyfalzon/ghinstallation/v2 (checked here: go-github v82
// builds, 10 MB for a one-call program). go-github turns the 304 of a
// conditional request that worked into an *ErrorResponse whose text quotes the
// whole request URL (the search query included); its WithEnterpriseURLs
// rewrites api_url by appending /api/v3/; and it reads a raw diff whole before
// it can be capped. ghinstallation v2.19.0 brings golang-jwt/jwt/v4 and
// go-github/v88, a second go-github major beside the one Steward would use.
// Five endpoints do not need that: the wire format used here is small, every
// byte read is bounded, and the JWT is signed with github.com/golang-jwt/jwt/v5.
//
// What it guarantees:
//   - the private key, the JWT and the installation token never appear in an
//     error or a log line; GitHub's own message is quoted bounded, on one line,
//     with any token masked;
//   - the token is sent only to api_url's host: a redirect or a Link to any
//     other host is refused;
//   - every call has a timeout and reads at most a bounded response;
//   - every error is an [*Error] that says whether it is transient (5xx,
//     408, timeouts, connection failures, a token GitHub stopped accepting),
//     rate limited ([*Error].RateLimited with RetryAfter: a 403/429 with
//     Retry-After, X-RateLimit-Remaining 0 or a secondary-rate-limit message;
//     neither a failure nor an attempt to burn) or permanent (a bad key, an
//     unknown app or installation, 404, 422 and other 4xx). Each starts with
//     the integration id, e.g. "github.work: installation 42 not found ...".
//
// It never retries and never sleeps: the lane runtime (internal/msg) owns
// retries and backoff (see [RetryAfter] for the rate-limit delay).
package client
