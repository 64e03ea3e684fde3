// Package mailbox is the email integration's access to an IMAP server: it
// lists INBOX for a check, fetches messages for collect, and moves messages
// and saves drafts for act. It owns IMAP connections, their security and
// their reuse; it knows nothing of notes, rules or tasks.
//
// It must never mark a message read (every fetch is BODY.PEEK), delete or
// expunge anything but the one message it moves, create folders, send mail,
// or put the password in a log line or an error.
//
// # Sessions and reuse
//
// A process has one [Pool]. [Pool.Session] lends a logged-in [Session] for
// one task and takes it back through the release function; the connection
// then waits, logged in, for the next task of the same account (key), so a
// check cycle costs one login, not one per message. A pool holds at most
// [PoolOptions.MaxPerAccount] connections per account (default 2; more
// tasks wait), checks a connection that was idle for a while with NOOP
// before reuse, replaces dead ones, and closes connections idle for
// [PoolOptions.IdleTimeout] (default 5 minutes) and all of them on
// [Pool.Close]. [Pool.Logins] counts logins.
//
// A check is one session: SELECT INBOX, one UID SEARCH, one batched UID FETCH
// of flags, dates, sizes and the Message-ID header ([Session.Inbox]).
// Collect fetches messages, each cut after [MaxFetch] bytes (2 MiB: the
// server sends no more) ([Session.Fetch], or [Session.FetchMany] for a batch
// in one command). Act resolves the UID ([Session.Resolve]), moves
// ([Session.Move]) to a special-use folder found by flag
// ([Session.SpecialUse]) or to a named one, saves drafts
// ([Session.AppendDraft]) and finds one again by its Message-ID after a crash
// ([Session.FindDraft]). Inbox ignores messages already marked \Deleted.
//
// # UIDVALIDITY
//
// A UID only names a message together with the folder's UIDVALIDITY. Inbox
// and Fetch report it; callers store it with the UID and the Message-ID (a
// [Ref]). Before acting, [Session.Resolve] keeps the UID when UIDVALIDITY is
// unchanged and otherwise finds the message again by Message-ID
// ([Session.FindByMessageID]); a message that cannot be identified safely
// gives ErrNoSuchMessage instead of an action on the wrong message. A
// Message-ID is the sender's choice: the email integration also compares the
// content digest of what it found with the one recorded at collect before
// acting. Moving a
// message that is no longer in INBOX also gives ErrNoSuchMessage, which the
// caller treats as "already done", so a retried move never acts twice.
//
// # Security modes
//
// [Account.Security] chooses the transport; certificates are verified
// against the host name unless [Account.InsecureSkipVerify] (the config's
// tls_verify: false) is set:
//
//   - "tls": implicit TLS (IMAPS), normally port 993.
//   - "starttls": plain TCP upgraded with STARTTLS before LOGIN, normally
//     port 143; a server that refuses STARTTLS is an error.
//   - "plain": no encryption at all. For a server on the same machine (e.g.
//     a local Dovecot or a bridge on 127.0.0.1) or behind a tunnel; for any
//     other host every login logs a warning, since the password crosses the
//     network in clear text.
//   - "" (automatic, the default): port 993 is implicit TLS. On any other
//     port the server's mode is detected: a plain-text server greets at once
//     ("* OK ..."), an implicit-TLS server waits silently for the client's
//     TLS hello. Automatic mode waits [Account.DetectWait] (1.5 s) for a
//     greeting; one that arrives leads to STARTTLS when the server offers
//     it, else plain IMAP, but only when the host is "localhost" or a
//     loopback IP (names are not resolved for this decision); silence leads
//     to a TLS handshake on the same connection. A server that greets only
//     after the TLS hello gets STARTTLS, required. A failed TLS handshake
//     never falls back to plain, and a certificate that is not valid is
//     never retried another way. The pool logs the mode it found once per
//     account ("IMAP security detected: tls on port 9993"); when neither
//     mode works the error says what the server did and names both modes
//     and the imap_security key.
//
// So a local server on port 143 works without TLS out of the box, a local
// server with a self-signed certificate on 143 needs tls_verify: false
// (STARTTLS is still used), and a remote server needs TLS unless "plain" is
// chosen explicitly.
//
// # Timeouts and errors
//
// [Account.ConnectTimeout] bounds TCP connect, TLS handshake and greeting;
// [Account.CommandTimeout] bounds each command, LOGIN included. Every
// operation also honours its context. A timeout or cancellation closes the
// connection (the session is then broken and is not reused).
//
// Every error is an [*Error] and matches either [ErrTransient] (network,
// timeouts, server busy or gone: retry later) or [ErrPermanent] (refused
// login, bad certificate, missing folder, unusable configuration: retrying
// cannot help), plus a specific kind where one applies: [ErrAuth], [ErrTLS],
// [ErrNoSuchMessage], [ErrNoSpecialUse], [ErrNoFolder], [ErrConfig],
// [ErrPoolClosed]. Test them with errors.Is.
//
// # Divergences from the reference implementation
//
// Deliberate (see spec/email.md §2 and §11): certificates are verified;
// STARTTLS and loopback plain IMAP are supported; connections have timeouts
// and are reused instead of one login per message; the inbox listing is one
// batched FETCH instead of one per message; UIDVALIDITY is tracked;
// special-use flags are matched case-insensitively via LIST RETURN
// (SPECIAL-USE) with the first folder winning, and the \Archive error points
// at a Gmail-style \All folder when there is one; capabilities are the
// post-login ones; the MOVE fallback expunges only the moved UID (UID
// EXPUNGE) and is refused without UIDPLUS.
package mailbox
