package message

import (
	"net"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Fact names (spec/email.md §3.5, §5.3). The deterministic ones are the
// manifest's DeterministicKeys: every fact here but message_id (stored to
// find the message again; a rule on it is not offered). Divergence:
// to_address, subject and received_at are rule sources too (the reference
// stored them but rules on them never matched).
const (
	FactMessageID        = "message_id"
	FactFromAddress      = "from_address"
	FactToAddress        = "to_address"
	FactSubject          = "subject"
	FactReceivedAt       = "received_at"
	FactAuthentication   = "authentication"
	FactDomain           = "domain"
	FactRootDomain       = "root_domain"
	FactIsNoreply        = "is_noreply"
	FactIsCalendarEvent  = "is_calendar_event"
	FactIsReply          = "is_reply"
	FactIsForward        = "is_forward"
	FactIsUnsubscribable = "is_unsubscribable"
	FactHasAttachments   = "has_attachments"
	FactIsRead           = "is_read"
	FactIsStarred        = "is_starred"
	FactIsAnswered       = "is_answered"
	FactCalendar         = "calendar"
)

// Facts returns the message's stored properties (spec/email.md §5.3) as plain
// JSON values, ready to store and for the rules engine:
//
//	message_id, from_address, to_address, subject   string
//	received_at                                     string, RFC 3339 in the mail's own offset ("2025-02-15T10:30:00+00:00")
//	authentication                                  map[string]any{dkim_pass, dmarc_pass, spf_pass: bool}
//	domain, root_domain                             string (lower-case)
//	is_noreply, is_calendar_event, is_reply,
//	is_forward, is_unsubscribable, has_attachments,
//	is_read, is_starred, is_answered                bool
//	calendar                                        map[string]any (see Calendar.Map), only when the mail is an invitation
//
// flags are the IMAP flags of the message (\Seen, \Flagged, \Answered give
// is_read, is_starred, is_answered). The uid is the caller's to add.
func (m *Message) Facts(flags []string) map[string]any {
	auth := m.Authentication()
	_, oneClick := UnsubscribeURL(m)
	f := map[string]any{
		FactMessageID:   m.MessageID,
		FactFromAddress: m.From.Address,
		FactToAddress:   m.To,
		FactSubject:     m.Subject,
		FactReceivedAt:  formatISO(m.Date),
		FactAuthentication: map[string]any{
			"dkim_pass":  auth.DKIM,
			"dmarc_pass": auth.DMARC,
			"spf_pass":   auth.SPF,
		},
		FactDomain:           Domain(m.From.Address),
		FactRootDomain:       RootDomain(m.From.Address),
		FactIsNoreply:        IsNoreply(m.From.Address),
		FactIsCalendarEvent:  m.Calendar != nil,
		FactIsReply:          m.IsReply(),
		FactIsForward:        IsForward(m.Subject),
		FactIsUnsubscribable: oneClick,
		FactHasAttachments:   m.HasAttachments(),
		FactIsRead:           hasFlag(flags, `\Seen`),
		FactIsStarred:        hasFlag(flags, `\Flagged`),
		FactIsAnswered:       hasFlag(flags, `\Answered`),
	}
	if m.Calendar != nil {
		f[FactCalendar] = m.Calendar.Map()
	}
	return f
}

// hasFlag reports whether flags holds the flag. Divergence: IMAP system flags
// are case-insensitive (RFC 3501 §2.3.2), so "\SEEN" counts; the reference
// compared exactly.
func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// IsReply: the message answers another (a non-empty In-Reply-To; the subject
// is not consulted).
func (m *Message) IsReply() bool { return m.InReplyTo != "" }

// signatureTypes are detached signatures of multipart/signed mail.
var signatureTypes = map[string]bool{
	"application/pgp-signature":     true,
	"application/pkcs7-signature":   true,
	"application/x-pkcs7-signature": true,
}

// HasAttachments: at least one attachment that is not a calendar invitation
// (text/calendar, application/ics). Inline images with a Content-ID and
// attached messages count. Divergence: the detached signature of a signed
// mail (application/pgp-signature, application/pkcs7-signature) does not
// count either; mail clients do not show it as an attachment.
func (m *Message) HasAttachments() bool {
	for _, a := range m.Attachments {
		switch {
		case a.ContentType == "text/calendar", a.ContentType == "application/ics":
		case signatureTypes[a.ContentType]:
		default:
			return true
		}
	}
	return false
}

// Domain is the lower-cased domain of an address: the text after its "@";
// "" without one. Divergence: after the last "@" (the domain cannot contain
// one; a quoted local part can), where the reference took the first.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}

// noreplyRE is the reference's no-reply local parts, anchored at the start
// and followed by "@".
var noreplyRE = regexp.MustCompile(`(?i)^(?:no-?reply|do-?not-?reply|mailer-daemon|postmaster)@`)

// IsNoreply reports whether an address is a no-reply sender: its local part
// is noreply, no-reply, donotreply, do-not-reply, donot-reply, do-notreply,
// mailer-daemon or postmaster (any case). "no_reply@", "noreply+x@" and
// "notifications-noreply@" are not, as in the reference.
func IsNoreply(addr string) bool { return noreplyRE.MatchString(addr) }

// forwardRE is the reference's forward marker: fw: or fwd:, maybe after "[",
// at the start of the subject after optional white space.
var forwardRE = regexp.MustCompile(`(?i)^\s*\[?fwd?:`)

// IsForward reports whether a subject marks a forward ("Fwd: x", "FW: x",
// "[Fwd: x]"); "Re: Fwd: x" and "Fwd : x" do not.
func IsForward(subject string) bool { return forwardRE.MatchString(subject) }

// RootDomain is the registrable domain of an address or host: one label
// more than its public suffix, taken from the ICANN section of the Public
// Suffix List only (private suffixes such as github.io or blogspot.com are
// not suffixes here, as in the reference), lower-cased:
//
//	user@example.com          example.com
//	no-reply@mail.company.com company.com
//	x@mail.company.co.uk      company.co.uk
//	x@mail.company.com.au     company.com.au
//	User@Mail.EXAMPLE.COM     example.com
//	x@pages.github.io         github.io
//
// The host is the text after the last "@"; a port, a path and trailing dots
// are ignored; an internationalised host keeps the form it was written in.
//
// Degenerate hosts. Divergence: the reference (tldextract) returned strings no
// rule could mean, which are not kept:
//
//	""                      ""             (reference ".")
//	localhost               localhost      (reference "localhost.")
//	corp.internal           corp.internal  (reference "internal."; the PSL's implicit "*" rule)
//	1.2.3.4, [1.2.3.4]      1.2.3.4        (reference "1.2.3.4.")
//	[IPv6:2001:db8::1]      2001:db8::1
//	co.uk                   co.uk          (reference ".co.uk"; a host that is itself a suffix)
func RootDomain(addr string) string {
	host := addr
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	host = strings.ToLower(strings.TrimSpace(host))
	if strings.HasPrefix(host, "[") { // address literal: [1.2.3.4], [IPv6:...]
		lit := strings.TrimPrefix(host, "[")
		if i := strings.IndexByte(lit, ']'); i >= 0 {
			lit = lit[:i]
		}
		lit = strings.TrimPrefix(lit, "ipv6:")
		if net.ParseIP(lit) != nil {
			return lit
		}
		host = lit // not an address: read it as a name
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if strings.Count(host, ":") == 1 {
		host, _, _ = strings.Cut(host, ":")
	}
	host = strings.Trim(host, ".")
	if host == "" || net.ParseIP(host) != nil {
		return host
	}
	ascii := host
	if !isASCII(host) {
		if a, err := idna.Lookup.ToASCII(host); err == nil {
			ascii = a
		}
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" { // "a..b": not a host name
			return host
		}
	}
	suffix := icannSuffix(ascii)
	n := strings.Count(suffix, ".") + 2 // labels of the registrable domain
	if suffix == "" {
		n = 2 // the implicit "*" rule: the last label is the suffix
	}
	if n > len(labels) { // the host is a public suffix itself, or one label
		return host
	}
	orig := strings.Split(host, ".")
	if len(orig) != len(labels) { // IDNA changed the label count: answer in ASCII
		return strings.Join(labels[len(labels)-n:], ".")
	}
	return strings.Join(orig[len(orig)-n:], ".")
}

// icannSuffix returns the public suffix of an ASCII host by the ICANN rules
// alone, "" when no ICANN rule matches (an unknown TLD). When the longest
// match is a private rule (PublicSuffix reports icann=false), the suffix is
// shortened label by label until an ICANN rule prevails. An icann=false
// answer without a dot is the implicit "*" rule, not a listed suffix.
func icannSuffix(host string) string {
	suffix, icann := publicsuffix.PublicSuffix(host)
	for !icann {
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			return ""
		}
		suffix, icann = publicsuffix.PublicSuffix(suffix[i+1:])
	}
	return suffix
}

// isASCII reports whether s is ASCII only.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Auth is the authentication verdict of the receiving server: whether a
// DKIM signature, the DMARC policy and SPF passed.
type Auth struct {
	DKIM, DMARC, SPF bool
}

// All reports whether DKIM, DMARC and SPF all passed (the reference then
// classifies the mail at priority 6 instead of 9).
func (a Auth) All() bool { return a.DKIM && a.DMARC && a.SPF }

// Authentication reads the Authentication-Results headers (RFC 8601).
//
// Divergence: the reference lower-cased all of them and looked for the
// substrings "dkim=pass", "spf=pass", "dmarc=pass", so a sender could pass
// by writing its own header, and "dkim=passed" or a comment counted. Here
// only the headers of the receiving server count: the top-most header's
// authserv-id (the user's server prepends its header, above anything the
// sender wrote) and every header with that same id; a header without an
// authserv-id ("spf=pass; dkim=pass", as Microsoft 365 writes) counts when
// the top-most one has none either. Each result is a method=result pair with
// comments removed; a method passes when any of its results is "pass" (one
// passing DKIM signature among several suffices). ARC-Authentication-Results
// is ignored.
func (m *Message) Authentication() Auth {
	var a Auth
	headers := m.Header.Values("Authentication-Results")
	if len(headers) == 0 {
		return a
	}
	trusted := ""
	for i, h := range headers {
		id, results := parseAuthResults(h)
		if i == 0 {
			trusted = id
		} else if id != trusted {
			continue
		}
		for _, r := range results {
			if r.result != "pass" {
				continue
			}
			switch r.method {
			case "dkim":
				a.DKIM = true
			case "dmarc":
				a.DMARC = true
			case "spf":
				a.SPF = true
			}
		}
	}
	return a
}

// authResult is one "method=result" of an Authentication-Results header.
type authResult struct{ method, result string }

// parseAuthResults splits an Authentication-Results value into its
// authserv-id (lower-cased; "" when the first element is already a result)
// and its results.
func parseAuthResults(v string) (id string, results []authResult) {
	elems := strings.Split(stripComments(v), ";")
	for i, e := range elems {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		first := strings.Fields(e)[0]
		method, result, ok := strings.Cut(first, "=")
		if !ok {
			if i == 0 {
				id = strings.ToLower(first)
			}
			continue
		}
		method, _, _ = strings.Cut(method, "/") // "dkim/1=pass": a version
		results = append(results, authResult{
			method: strings.ToLower(strings.TrimSpace(method)),
			result: strings.ToLower(strings.Trim(result, `"`)),
		})
	}
	return id, results
}

// stripComments removes RFC 5322 comments (nested parentheses, outside quoted
// strings).
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteByte(c)
			}
			continue
		case c == '\\':
			escaped = true
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
			continue
		case c == ')' && depth > 0:
			depth--
			b.WriteByte(' ')
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}
