// Package items is the data model of a tracked item — one email, pull request or
// issue — as the pipeline stages share it through the KV bucket "items": its
// deterministic facts, the untrusted text the LLM reads, and its classification.
//
// It holds data and pure helpers only; reading and writing go through
// internal/msg (Bus.Items()).
package items

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// Status of an item.
const (
	// StatusActive: the item still needs attention (e.g. the mail is in the inbox).
	StatusActive = "active"
	// StatusSynced: it no longer does (the mail left the inbox, the PR closed).
	StatusSynced = "synced"
)

// Field is one named piece of untrusted text shown to the LLM (from, subject,
// body, diff, ...), in the order the platform gives.
type Field struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// ClassifiedBy records which model made a classification.
type ClassifiedBy struct {
	Model     string    `json:"model"`
	Profile   string    `json:"profile"`
	Timestamp time.Time `json:"timestamp"`
}

// Item is the record of one tracked item.
type Item struct {
	Integration string `json:"integration"` // composite id, e.g. email.personal
	Platform    string `json:"platform"`    // e.g. inbox
	// Key identifies the item within the platform ("org/repo#123"; for email
	// "v2:" and a digest of the message's content, or, for mail collected
	// before that, its raw Message-ID or "imap_<uid>").
	Key string `json:"key"`
	// Title is a short human label (a subject, a PR title).
	Title string `json:"title,omitempty"`
	// Facts are the deterministic properties rules may test without the LLM.
	Facts map[string]any `json:"facts"`
	// Content is the untrusted text the classification prompt wraps in markers.
	Content []Field `json:"content,omitempty"`
	// Classification is the validated LLM result; ClassificationHash is
	// rules.Hash of the classification config it was made with.
	Classification     map[string]any `json:"classification,omitempty"`
	ClassificationHash string         `json:"classification_hash,omitempty"`
	ClassifiedBy       *ClassifiedBy  `json:"classified_by,omitempty"`
	// RulesHash identifies the automations the item was last evaluated with; a
	// check re-evaluates items whose hash differs from the config in force.
	RulesHash string `json:"rules_hash,omitempty"`
	Status    string `json:"status"`
	// Note is the path of the item's note relative to directories.notes
	// (e.g. emails/personal/2025_02_15_10_30_00__abc_example.com.md); "" = no note.
	// The journal writes it there while the item is active and under synced/ in
	// the same directory once it is synced. Its front matter is Facts plus
	// classification and classified_by.
	Note string `json:"note,omitempty"`
	// Digest identifies the item's immutable content as collected (for email
	// "sha256:<hex>" of the message as fetched): the act stage refuses to act
	// on a message whose digest differs. "" for items collected before it.
	Digest string `json:"digest,omitempty"`
	// Refs are platform references verified to name this item (for email
	// "<uidvalidity>:<uid>" of each INBOX copy whose content matched Digest),
	// so a check can recognise it without trusting anything a sender chose.
	Refs      []string  `json:"refs,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// KeyPrefix marks item keys minted since key tokens carry 64 bits (for
// email, "v2:" and a content digest). StoreKey gives such keys a KeyToken; a
// key without it keeps the 32-bit LegacyKeyToken it was stored under, so items
// stored before the upgrade are found where they are.
const KeyPrefix = "v2:"

// StoreKey is the item's key in the items bucket:
// <integration>.<platform>.<key token>, with every part made a legal key
// token: KeyToken for a key with KeyPrefix, LegacyKeyToken otherwise.
func StoreKey(integration, platform, key string) string {
	if strings.HasPrefix(key, KeyPrefix) {
		return IntegrationToken(integration) + "." + platform + "." + KeyToken(key)
	}
	return LegacyStoreKey(integration, platform, key)
}

// LegacyStoreKey is the key an item was stored under before 64-bit key
// tokens (<integration>.<platform>.<LegacyKeyToken>). Only for finding what
// was stored then.
func LegacyStoreKey(integration, platform, key string) string {
	return IntegrationToken(integration) + "." + platform + "." + LegacyKeyToken(key)
}

// StoreKey returns the item's key in the items bucket.
func (it *Item) StoreKey() string { return StoreKey(it.Integration, it.Platform, it.Key) }

// maxReadable bounds the readable part of a key token.
const maxReadable = 80

// KeyToken turns any text into one legal KV key token: its first 80
// characters with every character outside [A-Za-z0-9_-] replaced by '_', then
// '=' and 16 hex digits (64 bits) of the text's SHA-256, so distinct texts
// get distinct tokens (a collision needs about 2^32 attempts for a pair of
// chosen texts and 2^64 to hit a given one). The '=' keeps these tokens apart
// from every LegacyKeyToken, which has none.
func KeyToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return readable(s) + "=" + hex.EncodeToString(sum[:8])
}

// LegacyKeyToken is the 32-bit key token Steward used before KeyToken (the
// same text as msg.KeyToken gives): the readable part, '-' and 8 hex digits
// of the SHA-256 of the canonical JSON {"k": s}. Only for finding items and
// ledger entries stored before the upgrade; never for new keys.
func LegacyKeyToken(s string) string {
	b, err := msg.CanonicalJSON(map[string]any{"k": s})
	if err != nil {
		b = []byte(s) // unreachable for a string
	}
	sum := sha256.Sum256(b)
	return readable(s) + "-" + hex.EncodeToString(sum[:4])
}

// readable is the first characters of s with every character outside
// [A-Za-z0-9_-] replaced by '_'.
func readable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= maxReadable {
			break
		}
	}
	return b.String()
}

// IntegrationToken turns a composite id (email.personal) into one key token
// (email_personal). Types and names are limited to [A-Za-z0-9_-] by the config
// loader, so the mapping is readable; a '_' in the type could make two ids share
// a token only if both exist, which the ids' "type.name" uniqueness plus the
// platform token keeps apart in practice.
func IntegrationToken(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c == '.' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Prefix is the key filter of every item of one integration platform.
func Prefix(integration, platform string) string {
	return IntegrationToken(integration) + "." + platform + ".>"
}
