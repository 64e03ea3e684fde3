// Package items is the data model of a tracked item — one email, pull request or
// issue — as the pipeline stages share it through the KV bucket "items": its
// deterministic facts, the untrusted text the LLM reads, and its classification.
//
// It holds data and pure helpers only; reading and writing go through
// internal/msg (Bus.Items()).
package items

import (
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
	// Key identifies the item within the platform (a raw Message-ID, "imap_<uid>",
	// "org/repo#123").
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
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StoreKey is the item's key in the items bucket:
// <integration>.<platform>.<key token>, with every part made a legal key token.
func StoreKey(integration, platform, key string) string {
	return IntegrationToken(integration) + "." + platform + "." + msg.KeyToken(key)
}

// StoreKey returns the item's key in the items bucket.
func (it *Item) StoreKey() string { return StoreKey(it.Integration, it.Platform, it.Key) }

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
