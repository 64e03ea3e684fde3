// Package apiurl checks the base URL of an HTTP API that a client sends a
// secret to (an API key, a token): https with a host and nothing else, or
// plain http to a loopback stand-in.
package apiurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Wording is what the messages of [Check] say for one API.
type Wording struct {
	// Example follows "want an https URL such as " in the message for a URL
	// that is not one, e.g. "https://api.example.com".
	Example string
	// Secret names what the client sends, as in "plain http would send the
	// API key unencrypted", e.g. "the API key".
	Secret string
	// Hint, if not "", follows the messages for a user or password and for a
	// query or fragment in parentheses, e.g. "the API key goes in api_key".
	Hint string
	// Quote, if not nil, makes the host fit the plain-http message before
	// [Clip] cuts it (e.g. drops control characters); nil keeps it as is.
	Quote func(string) string
}

// Check validates raw as an API base URL: an https (or http) URL with a host
// and no user, password, query or fragment. Plain http is accepted only for a
// loopback host (a stand-in), since the secret would otherwise cross the
// network unencrypted. Its messages never quote the URL's userinfo.
func Check(raw string, w Wording) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("want an https URL such as %s", w.Example)
	}
	if u.User != nil {
		return errors.New("must not hold a user or password" + w.hint())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("must not hold a query or fragment" + w.hint())
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		host := u.Hostname()
		if w.Quote != nil {
			host = w.Quote(host)
		}
		return fmt.Errorf("plain http would send %s unencrypted; use https (http only for a loopback stand-in, got host %s)", w.Secret, Clip(host))
	}
	return nil
}

// hint is w.Hint as the tail of a message.
func (w Wording) hint() string {
	if w.Hint == "" {
		return ""
	}
	return " (" + w.Hint + ")"
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
// Other names are not resolved.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxClip is how many runes [Clip] keeps.
const maxClip = 80

// Clip cuts text quoted in an error message to a readable length: at most 80
// runes, then "…".
func Clip(s string) string {
	if r := []rune(s); len(r) > maxClip {
		return string(r[:maxClip]) + "…"
	}
	return s
}
