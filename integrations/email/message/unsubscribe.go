package message

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// unsubURLRE finds bracketed http(s) URLs in List-Unsubscribe (RFC 2369).
var unsubURLRE = regexp.MustCompile(`(?i)<\s*(https?://[^>]+)>`)

// oneClickValue is the List-Unsubscribe-Post value RFC 8058 §3.1 requires.
const oneClickValue = "List-Unsubscribe=One-Click"

// UnsubscribeURL returns the message's unsubscribe URL and whether RFC 8058
// one-click unsubscribe is offered for it.
//
// url is the first https URL of the List-Unsubscribe headers (all instances,
// in order), else the first http URL; white space inside the brackets (left
// by header folding) is removed; mailto: entries are never used. oneClick is
// true only for an https URL with List-Unsubscribe-Post:
// List-Unsubscribe=One-Click. ("", false) when there is no http(s) URL.
//
// Divergence: the reference took the first http(s) URL and accepted any
// List-Unsubscribe-Post value, even empty. RFC 8058 requires HTTPS and that
// exact value, and an unsubscribe is the one action that cannot be undone:
// a sender that does not offer the RFC 8058 contract is not sent a POST it
// did not ask for. (The scheme is matched in any case; the reference wanted
// it lower-case.)
func UnsubscribeURL(m *Message) (link string, oneClick bool) {
	if m == nil {
		return "", false
	}
	var first, firstHTTPS string
	for _, match := range unsubURLRE.FindAllStringSubmatch(strings.Join(m.Header.Values("List-Unsubscribe"), " "), -1) {
		u := strings.Join(strings.Fields(match[1]), "")
		p, err := url.Parse(u)
		if err != nil || p.Host == "" {
			continue
		}
		if first == "" {
			first = u
		}
		if strings.EqualFold(p.Scheme, "https") {
			firstHTTPS = u
			break
		}
	}
	if firstHTTPS == "" {
		return first, false
	}
	for _, v := range m.Header.Values("List-Unsubscribe-Post") {
		if strings.EqualFold(strings.TrimSpace(v), oneClickValue) {
			return firstHTTPS, true
		}
	}
	return firstHTTPS, false
}

// DefaultUnsubscribeTimeout bounds one unsubscribe request (the reference's
// 30 seconds).
const DefaultUnsubscribeTimeout = 30 * time.Second

// ErrBadUnsubscribeURL marks a URL Unsubscribe refuses before sending
// anything: not http(s), no host. Retrying cannot help.
var ErrBadUnsubscribeURL = errors.New("unsubscribe: not an http(s) URL")

// ErrForbiddenAddress marks a connection refused by NewUnsubscribeClient's
// guard: the unsubscribe URL (or what its name resolved to) is a loopback,
// private, link-local or otherwise non-public address.
var ErrForbiddenAddress = errors.New("unsubscribe: refusing to connect to a non-public address")

// Unsubscribe sends the RFC 8058 one-click request: POST link with the body
// "List-Unsubscribe=One-Click" as application/x-www-form-urlencoded, and
// returns the response status. Redirects are not followed (a 3xx is returned
// as the status; RFC 8058 §3.2: the POST must not be redirected to a GET), no
// cookies are sent or kept, and the request has no credentials. The caller
// decides what a status means (the reference counts 2xx as success and
// ignores the rest).
//
// client nil uses NewUnsubscribeClient(). A given client is copied; the copy
// gets the redirect policy, no cookie jar, and DefaultUnsubscribeTimeout when
// it has no timeout. err wraps ErrBadUnsubscribeURL for a URL that is not
// http(s) and ErrForbiddenAddress for a non-public address (both permanent:
// nothing was sent, and retrying cannot help); any other error is the
// transport's (a timeout, a refused connection: transient, and the request
// may or may not have reached the server).
func Unsubscribe(ctx context.Context, client *http.Client, link string) (status int, err error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return 0, fmt.Errorf("%w: %q", ErrBadUnsubscribeURL, link)
	}
	var c http.Client
	if client != nil {
		c = *client
	} else {
		c = *NewUnsubscribeClient()
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	if c.Timeout == 0 {
		c.Timeout = DefaultUnsubscribeTimeout
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(oneClickValue))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadUnsubscribeURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Steward (RFC 8058 one-click unsubscribe)")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// NewUnsubscribeClient returns the HTTP client Unsubscribe uses by default:
// DefaultUnsubscribeTimeout, no proxy, no cookie jar, and a dialer that
// refuses non-public addresses (loopback, private, link-local, CGNAT,
// unspecified, multicast, benchmarking, reserved, NAT64, 6to4, IPv4-compatible), checked on the address actually dialled, after
// DNS resolution. The URL comes from a stranger's mail; without the guard it
// could make Steward POST to a router or another service on the user's
// network.
func NewUnsubscribeClient() *http.Client {
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(ip) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: DefaultUnsubscribeTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: DefaultUnsubscribeTimeout,
			MaxIdleConns:          1,
			IdleConnTimeout:       30 * time.Second,
			ForceAttemptHTTP2:     true,
		},
	}
}

// nonPublic are the ranges IsGlobalUnicast accepts but a one-click
// unsubscribe must never reach: they are not public hosts, or they embed an
// IPv4 address a translator or relay would turn into a private one.
var nonPublic = [...]netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking, RFC 2544
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved (and 255.255.255.255), RFC 1112
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 well-known prefix, RFC 6052: 64:ff9b::10.0.0.1 is 10.0.0.1
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64, RFC 8215
	netip.MustParsePrefix("2002::/16"),      // 6to4, RFC 3056: embeds any IPv4 address
	netip.MustParsePrefix("::/96"),          // IPv4-compatible, deprecated by RFC 4291
}

// publicAddr reports whether ip is a public unicast address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
