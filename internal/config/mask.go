package config

import (
	"net/url"
	"sort"
	"strings"
)

// maskedCredential replaces a credential written inside a URL.
const maskedCredential = "xxxxx"

// secretQueryWords mark query parameters that carry credentials
// (api_key, access_token, client_secret, password, sig, X-Amz-Credential, ...).
var secretQueryWords = []string{"key", "token", "secret", "pass", "pwd", "auth", "sig", "cred", "session"}

// MaskURL hides the credentials written inside a URL: the password of its
// userinfo (a user without a password, which NATS and many HTTP services treat
// as a token, is hidden whole) and the values of query parameters whose names
// look secret (key, token, secret, password, auth, signature, ...). A comma-
// separated list of URLs (a NATS server list) is masked URL by URL. Text that is
// not a URL with a scheme and host is returned unchanged.
func MaskURL(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = maskOneURL(p)
	}
	return strings.Join(parts, ",")
}

func maskOneURL(raw string) string {
	trimmed := strings.TrimSpace(raw)
	u, err := url.Parse(trimmed)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.User == nil) {
		if err != nil && strings.Contains(trimmed, "@") {
			// Unparsable but it may hold userinfo: keep only what follows the '@'.
			scheme, rest, ok := strings.Cut(trimmed, "://")
			if ok {
				if at := strings.LastIndex(rest, "@"); at >= 0 {
					return scheme + "://" + maskedCredential + "@" + rest[at+1:]
				}
			}
		}
		return raw
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), maskedCredential)
		} else {
			u.User = url.User(maskedCredential)
		}
		changed = true
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = maskedCredential
			changed = true
		} else {
			masked := false
			for name, vals := range q {
				if secretQueryName(name) {
					for i := range vals {
						vals[i] = maskedCredential
					}
					masked = true
				}
			}
			if masked {
				u.RawQuery = encodeQuery(q)
				changed = true
			}
		}
	}
	if !changed {
		return raw
	}
	return u.String()
}

// secretQueryName reports whether a query parameter name looks like it carries
// a credential.
func secretQueryName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretQueryWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// encodeQuery is url.Values.Encode without escaping the mask.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
		}
	}
	return b.String()
}

// minSecretLen is the shortest secrets.yaml value masked inside longer text: a
// shorter one (a port, "yes") would mask unrelated words.
const minSecretLen = 6

// maskValue hides every credential in a described value: a value that came
// from secrets.yaml as `!secret <key>`, secrets.yaml values quoted inside it,
// and credentials written inside URLs.
func (c *Config) maskValue(s string) string {
	if s == "" {
		return s
	}
	if key, ok := c.masks[s]; ok {
		return "!secret " + key
	}
	out := s
	if len(c.masks) > 0 {
		vals := make([]string, 0, len(c.masks))
		for v := range c.masks {
			if len(v) >= minSecretLen {
				vals = append(vals, v)
			}
		}
		// Longest first, so a secret that contains another is masked whole.
		sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
		for _, v := range vals {
			if strings.Contains(out, v) {
				out = strings.ReplaceAll(out, v, "<!secret "+c.masks[v]+">")
			}
		}
	}
	return MaskURL(out)
}
