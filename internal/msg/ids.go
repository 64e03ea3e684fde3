package msg

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Bounds of every name that reaches a NATS subject or KV key. NATS closes a
// connection whose protocol line passes 4 KiB ("maximum control line exceeded"),
// so an unbounded id from outside (an HTTP path, a CLI argument, a task payload)
// could disconnect Steward. Every id is checked against these bounds before it is
// used in a subject or key; a subject built from checked parts stays far below
// the limit (5 tokens of at most MaxTokenLen, a type of at most MaxTaskTypeLen).
const (
	// MaxTokenLen bounds one subject token: a lane, a task type token, a key token.
	MaxTokenLen = 64
	// MaxTaskTypeLen bounds a dotted task type.
	MaxTaskTypeLen = 128
	// MaxIDLen bounds a task id (they are about 60 characters plus the type).
	MaxIDLen = 200
	// MaxKeyLen bounds a KV key (items and ledger keys are a few dotted tokens).
	MaxKeyLen = 512
)

// ErrInvalidID marks an id or key outside the bounded grammar. Callers answer it
// as bad input (HTTP 4xx, a permanent task failure), never as an outage.
var ErrInvalidID = errors.New("invalid id")

var (
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	idRE    = regexp.MustCompile(`^[A-Za-z0-9_=-][A-Za-z0-9_.=-]*$`)
	// keyRE is the KV key grammar of nats.go, less '/' and '\' (no key of
	// Steward's has them, and they only confuse file-backed tooling).
	keyRE = regexp.MustCompile(`^[-=_A-Za-z0-9]+(\.[-=_A-Za-z0-9]+)*$`)
)

// ValidLane reports whether name can be used as a lane (one subject token of
// letters, digits, '_' and '-', at most MaxTokenLen long).
func ValidLane(name string) bool { return len(name) <= MaxTokenLen && tokenRE.MatchString(name) }

// ValidTaskType reports whether typ is a dotted task type whose tokens are legal
// subject tokens (letters, digits, '_' and '-'), at most MaxTaskTypeLen long.
func ValidTaskType(typ string) bool {
	if typ == "" || len(typ) > MaxTaskTypeLen {
		return false
	}
	for _, tok := range strings.Split(typ, ".") {
		if len(tok) > MaxTokenLen || !tokenRE.MatchString(tok) {
			return false
		}
	}
	return true
}

// ValidTaskID reports whether id can name a task: letters, digits, '_', '-',
// '=' and single dots, not ending in a dot, at most MaxIDLen long.
func ValidTaskID(id string) bool {
	return id != "" && len(id) <= MaxIDLen && idRE.MatchString(id) &&
		!strings.HasSuffix(id, ".") && !strings.Contains(id, "..")
}

// ValidKey reports whether key can be a KV key: dot-separated tokens of letters,
// digits, '_', '-' and '=', at most MaxKeyLen long.
func ValidKey(key string) bool { return len(key) <= MaxKeyLen && keyRE.MatchString(key) }

// CheckTaskID returns an error wrapping ErrInvalidID when id is not a task id.
// The error quotes at most a short prefix of id, so a hostile id cannot flood a
// log line or a reply.
func CheckTaskID(id string) error {
	if ValidTaskID(id) {
		return nil
	}
	return fmt.Errorf("task id %s: %w: want at most %d letters, digits, '_', '-', '=' and single dots",
		Quote(id), ErrInvalidID, MaxIDLen)
}

// CheckKey returns an error wrapping ErrInvalidID when key is not a KV key.
func CheckKey(key string) error {
	if ValidKey(key) {
		return nil
	}
	return fmt.Errorf("key %s: %w: want at most %d characters of dot-separated letters, digits, '_', '-' and '='",
		Quote(key), ErrInvalidID, MaxKeyLen)
}

// Quote quotes s for an error message, cut to 40 characters (with "…" and the
// full length when longer).
func Quote(s string) string {
	const show = 40
	if len(s) <= show {
		return fmt.Sprintf("%q", s)
	}
	cut := s[:show]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1] // never split a character
	}
	return fmt.Sprintf("%q… (%d bytes)", cut, len(s))
}
