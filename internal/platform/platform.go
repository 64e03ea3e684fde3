// Package platform is the contract between the pipeline service and the
// integrations. An integration implements Platform for each of its platforms —
// discovering items (check), building them (collect) and carrying out its
// declared actions (an Actor) — and uses Env for everything else: the config,
// the items bucket, publishing tasks, the daily log. The generic stages
// (classify, evaluate, the safety re-check and the ledger around every action)
// live in services/pipeline; integrations never import services.
package platform

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
)

// Env is what the pipeline gives a platform's stage handlers.
type Env interface {
	// Config is the config in force (it may be reloaded between tasks).
	Config() *config.Config
	// Integration returns the configured integration with the composite id, or a
	// permanent error naming the configured ones.
	Integration(id string) (*config.Integration, error)
	// Item loads an item; msg.ErrNotFound when it is unknown.
	Item(ctx context.Context, integration, platform, key string) (*items.Item, error)
	// Items returns every item of an integration platform.
	Items(ctx context.Context, integration, platform string) ([]*items.Item, error)
	// UpdateItem reads the item (a zero Item with the ids filled in when absent),
	// calls fn and writes it back, retrying on concurrent changes.
	UpdateItem(ctx context.Context, integration, platform, key string, fn func(it *items.Item, exists bool) error) (*items.Item, error)
	// QueueClassify publishes the generic classify task of an item on its LLM
	// profile's lane at the given priority (6, or 9 for unauthenticated mail).
	QueueClassify(ctx context.Context, it *items.Item, priority int) error
	// QueueEvaluate publishes the generic evaluate task of an item.
	QueueEvaluate(ctx context.Context, it *items.Item) error
	// ClassificationHash is the hash of the platform's classification config in
	// force; an item classified with another hash needs classifying again.
	ClassificationHash(integration, platform string) string
	// RulesHash identifies the platform's automations in force; an item evaluated
	// under another needs evaluating again.
	RulesHash(integration, platform string) string
	// Publish publishes a task (queue policies apply when spec.ApplyPolicy).
	Publish(ctx context.Context, spec msg.Spec) (msg.Published, error)
	// Audit writes a line to the daily log (through the journal).
	Audit(ctx context.Context, ev audit.Event) error
	Logger() *slog.Logger
	Now() time.Time
}

// Platform is an integration's implementation of one platform.
type Platform interface {
	// Check is the entry task: discover items and publish collect tasks for new
	// ones (and mark items that left as synced).
	Check(ctx context.Context, env Env, t *msg.Task) (any, error)
	// Collect builds one item (facts, prompt content, note path), saves it and
	// queues its classification.
	Collect(ctx context.Context, env Env, t *msg.Task) (any, error)
	// OpenActor prepares to act on one item (an IMAP session, an API client).
	OpenActor(ctx context.Context, env Env, it *items.Item) (Actor, error)
}

// Actor carries out a platform's declared actions on one item.
type Actor interface {
	// Perform does one action and returns the daily-log line for it ("" = none).
	// Reversible actions must be idempotent (archiving an archived mail is not an
	// error). The pipeline has already checked provenance and the ledger.
	Perform(ctx context.Context, a config.Action) (humanLog string, err error)
	// Close releases the actor's resources; err is the last error, if any.
	Close(err error)
}

// KeyedActor is an Actor that can give an at-most-once action's side effect
// an identity derived from the action's ledger key (a draft's Message-ID),
// and so find out after a crash whether it happened: such actions become
// exactly once. The pipeline uses it when an actor implements it; an actor
// asserts it does with var _ platform.KeyedActor = (*actor)(nil).
type KeyedActor interface {
	Actor
	// PerformKeyed is Perform for the at-most-once action ledgered under key.
	PerformKeyed(ctx context.Context, a config.Action, key string) (humanLog string, err error)
	// Resumable reports whether Resume can tell, for this action, whether its
	// side effect happened.
	Resumable(a config.Action) bool
	// Resume finishes the action whose attempt under key was interrupted
	// (a crash between the ledger intent and its completion) without
	// repeating a side effect that happened. ok is false, and nothing is
	// done, when the actor cannot tell for this action (it stays at most
	// once). An error wrapped with NotPerformed means nothing happened.
	Resume(ctx context.Context, a config.Action, key string) (humanLog string, ok bool, err error)
}

// Integration is an integration type compiled into Steward.
type Integration interface {
	Manifest() *manifest.Manifest
	// Platform returns the implementation of a platform (nil = none yet: its
	// tasks fail with "Unknown task type").
	Platform(name string) Platform
}

// notPerformed marks an action error after which the side effect certainly did
// not happen (the connection failed before the command was sent, the server
// refused it): an at-most-once action may then be tried again.
type notPerformed struct{ err error }

func (e *notPerformed) Error() string { return e.err.Error() }
func (e *notPerformed) Unwrap() error { return e.err }

// NotPerformed wraps an Actor error to say the action certainly did not happen.
// Without it, the pipeline assumes an at-most-once action may have happened and
// never repeats it.
func NotPerformed(err error) error {
	if err == nil {
		return nil
	}
	return &notPerformed{err: err}
}

// IsNotPerformed reports whether err was wrapped with NotPerformed.
func IsNotPerformed(err error) bool {
	var np *notPerformed
	return errors.As(err, &np)
}
