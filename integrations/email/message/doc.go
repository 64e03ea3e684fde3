// Package message turns one raw email (RFC 5322 / MIME, as fetched over IMAP)
// into what the email integration needs: the fields of the reference message
// model (spec/email.md §3), the deterministic facts rules test (§3.5, §3.6), the
// untrusted text shown to the LLM (§7.1), the note file name (§5.2), and the two
// side-effecting building blocks of the act stage: the RFC 8058 one-click
// unsubscribe request (§6.3) and the reply draft (§6.4).
//
// Parsing is lenient and never panics: malformed header lines end the header
// block the way the reference parser does, broken MIME keeps whatever could be
// read, unknown charsets are read as UTF-8 with invalid bytes dropped, and the
// problems worth a log line are listed in [Message.Defects]. MIME transfer
// decoding and charsets come from github.com/emersion/go-message (its charset
// package covers the IANA and WHATWG charsets); the public suffix list is
// golang.org/x/net/publicsuffix; HTML is read with golang.org/x/net/html. The
// header splitter, the multipart splitter and the iCalendar reader are small
// and hand-written because the libraries' are strict where real mail is not
// (go-message stops at the first malformed header line and drops the rest of a
// multipart; go-ical panics on some malformed content lines).
//
// Where the reference behaves in a way a user would not expect, this package
// does what the user expects and says so in a comment starting "Divergence:".
// The list, for reviewers:
//
//   - plain text is preferred over HTML for the body (the reference preferred
//     HTML), and HTML is converted with block-level line breaks only
//     ("Hello <b>world</b>" is "Hello world", not "Hello\nworld");
//   - authentication flags are read from the receiving server's
//     Authentication-Results (the top-most header's authserv-id), parsed as
//     method=result pairs, not substring-matched over every header a sender
//     may have injected;
//   - calendar parts are found inline too (Outlook sends text/calendar in
//     multipart/alternative), every calendar part is tried until one parses,
//     and calendar.end follows RFC 5545 when DTEND is absent (DURATION, one
//     day for an all-day event, DTSTART otherwise) so "calendar.end: <now()"
//     works on every invitation; a TZID that is not an IANA name is resolved
//     through the invitation's VTIMEZONE;
//   - root_domain returns the host itself for hosts without a registrable
//     domain (localhost, IP literals, a bare public suffix) and "" for no
//     address, not the reference's "localhost." / "." strings; an unknown TLD
//     follows the PSL's implicit "*" rule (corp.internal);
//   - domain is the text after the last "@" (a quoted local part may hold
//     one), not the first;
//   - is_unsubscribable means RFC 8058 one-click really is offered: an https
//     URL and List-Unsubscribe-Post: List-Unsubscribe=One-Click;
//   - the default unsubscribe client refuses non-public addresses;
//   - IMAP flags are compared case-insensitively (RFC 3501 system flags are);
//   - a file-type part (application/*, image/*, ...) or one marked
//     "attachment" is an attachment even without a name; body text parts
//     with a Content-ID are not; signatures of multipart/signed do not make
//     has_attachments true;
//   - drafts are from the account's own address, go to Reply-To when there is
//     one, carry Date and Message-ID, and encode non-ASCII headers (RFC 2047);
//   - a Message-ID that sanitises to nothing, or to a name too long for a file
//     system, still gives a usable note file name;
//   - sizes are bounded so a hostile message cannot make the stored item too
//     large: header values at 64 KiB, the subject at 1000 characters, body
//     text at 1 MiB, 2000 MIME parts, nesting at 32 levels.
//
// Nothing here keeps package-level mutable state; the only global touched is
// go-message's charset registry, which importing its charset package fills.
package message
