// Package msg is Steward's task layer and the only package that imports JetStream.
//
// It embeds (or connects to) a NATS server, provisions the stream TASKS and the KV
// bucket tasks, publishes tasks through the queue policies (dedup of pending work,
// rate limits), and runs the bounded, strictly priority-ordered worker loop of each
// lane: retries with backoff, deferrals (RetryAfter), heartbeats, status records.
// Services and integrations see a few verbs — Publish, Serve, Status — never consumers or acks.
//
// Subjects are public (users see them with the nats CLI):
//
//	tasks.<lane>.<priority>.<task type tokens>.<key>
//
// where key is the payload fingerprint when pending duplicates are refused, else a
// random token. See ARCHITECTURE.md §2.
package msg

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Names of the public JetStream objects.
const (
	StreamTasks  = "TASKS"
	BucketTasks  = "tasks"
	BucketPolicy = "policy"
	SubjectRoot  = "tasks"
	// DoorbellRoot prefixes the core-NATS subjects steward.doorbell.<lane>.<priority>
	// that publishers ring after a task is stored.
	DoorbellRoot = "steward.doorbell"
)

// Lanes used by the services. LLM lanes are "llm_<profile>" (see LLMLane).
const (
	LaneIO     = "io"
	LaneScript = "script"
)

// LLMLane is the lane that serves LLM profile p.
func LLMLane(profile string) string { return "llm_" + profile }

// Priorities: 1 runs first. Constants for the ones the pipeline uses.
const (
	PriorityChat           = 1
	PriorityChatAction     = 2
	PriorityCollect        = 3
	PriorityDefault        = 5
	PriorityClassify       = 6
	PriorityEvaluate       = 7
	PriorityUnauthClassify = 9
	MinPriority            = 1
	MaxPriority            = 9
)

// Provenance of a task that may act: rule, llm or hybrid ("" = none recorded,
// which act stages treat as llm).
const (
	ProvenanceRule   = "rule"
	ProvenanceLLM    = "llm"
	ProvenanceHybrid = "hybrid"
)

// Task states recorded in the tasks bucket.
const (
	StatePending = "pending"
	StateActive  = "active"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Spec describes a task to publish.
type Spec struct {
	// Type is the task type, e.g. "email.inbox.check". When empty, Payload["type"] is used.
	Type string
	// Payload is the task payload; it always carries "type" (set from Type when absent).
	// It must never hold secrets: anyone with nats access can read it.
	Payload map[string]any
	// Priority 1..9 (0 = PriorityDefault).
	Priority int
	// Lane that runs it ("" = LaneIO).
	Lane string
	// Provenance of the decision that produced it ("" = none).
	Provenance string
	// ApplyPolicy applies queue_policies (dedup of pending duplicates, rate limits).
	// Manual API triggers, chat messages and approved chat actions leave it false.
	ApplyPolicy bool
	// ID fixes the task id (it is also the Nats-Msg-Id), so that several publishers of
	// the same logical task — two schedulers firing the same cron tick — publish it
	// once. "" = a fresh id.
	ID string
}

// Skip reasons of a publish the policies refused.
const (
	SkipDuplicate   = "duplicate"    // an identical task is already pending
	SkipRateLimited = "rate_limited" // the type's rate limit is reached
)

// Published is the outcome of Publish.
type Published struct {
	// ID of the new task, or of nothing when Skipped is set.
	ID string `json:"id,omitempty"`
	// Skipped says why the policies refused the task ("" = published).
	Skipped string `json:"skipped,omitempty"`
	// Subject the task was published on.
	Subject string `json:"subject,omitempty"`
}

// Task is what a handler receives.
type Task struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Priority   int             `json:"priority"`
	Lane       string          `json:"lane"`
	CreatedAt  time.Time       `json:"created_at"`
	Provenance string          `json:"provenance,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	// Attempt is 1 on the first delivery. A delivery that a graceful shutdown
	// gave back to the queue, or that the handler deferred with RetryAfter, is
	// not an attempt (the next one has the same number); one cut short by a
	// crash or kill -9 is.
	Attempt int `json:"-"`
	// MaxAttempts is the bound on attempts: an error on attempt MaxAttempts is
	// final even when it is transient, and a task delivered again after its
	// worker died during attempt MaxAttempts fails without running.
	MaxAttempts int `json:"-"`
}

// Decode unmarshals the payload into v; a failure is a permanent error.
func (t *Task) Decode(v any) error {
	if err := json.Unmarshal(t.Payload, v); err != nil {
		return Permanent(err)
	}
	return nil
}

// Status is the record of a task in the tasks bucket.
//
// While a task runs, its worker rewrites HeartbeatAt every ack wait of the
// task's priority. A record read as active whose heartbeat is older than
// [StaleAfter] of them has no worker any more (it was killed, or lost its
// connection): Status and Tasks then set Stale. Status stays "active" for the
// clients that poll it, until another worker takes the task up again.
type Status struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Priority    int             `json:"priority"`
	Lane        string          `json:"lane"`
	Provenance  string          `json:"provenance,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Attempts    int             `json:"attempts"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	FailedAt    *time.Time      `json:"failed_at,omitempty"`
	NextAttempt *time.Time      `json:"next_attempt_at,omitempty"`
	Error       string          `json:"error,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	// RetriedAs is the id of the task a person re-ran this failed one as.
	RetriedAs string `json:"retried_as,omitempty"`
	// HeartbeatAt is when the worker running the task last recorded that it
	// still runs it (set while active).
	HeartbeatAt *time.Time `json:"heartbeat_at,omitempty"`
	// Stale is never stored: readers set it on an active record whose worker
	// has stopped recording heartbeats (see StaleAfter), so the task is not
	// running although the record says active. It is picked up again once the
	// queue redelivers it.
	Stale bool `json:"stale,omitempty"`
	// Returned counts the times a graceful shutdown gave the task back to the
	// queue unfinished. They are not attempts: Attempts and MaxAttempts leave
	// them out.
	Returned int `json:"returned,omitempty"`
	// Deferred counts the times the handler deferred the task with RetryAfter
	// (a rate limit until its reset). They are not attempts either: Attempts
	// and MaxAttempts leave them out; Options.MaxDeferrals bounds them.
	Deferred int `json:"deferred,omitempty"`
	// Note says why a pending task is pending again when that is not a
	// failure, e.g. "returned to the queue by a shutdown" or
	// "deferred: retry after 14m0s: …".
	Note string `json:"note,omitempty"`
}

// StaleAfter is how many ack waits of its priority an active record's
// heartbeat may age before readers report it stale. The worker records one
// every ack wait, so a live worker's record is never older than about one.
const StaleAfter = 3

// Policy is the queue policy of a task type (queue_policies in config.yaml).
type Policy struct {
	// DeduplicatePending refuses a task while an identical one (same type and
	// payload) is pending.
	DeduplicatePending bool
	// RateLimit, when set, accepts at most Max tasks of the type per Per.
	RateLimit *RateLimit
}

// RateLimit allows at most Max tasks of a type per Per.
type RateLimit struct {
	Max int
	Per time.Duration
	// PerText is the window as the user wrote it (for logs).
	PerText string
}

// Handler runs one task. A nil error completes it with the result (nil = no
// result). An error wrapped with Permanent fails it at once; one wrapped with
// RetryAfter defers it without counting an attempt; any other error is
// transient and retried with backoff until the attempts run out.
type Handler func(ctx context.Context, t *Task) (result any, err error)

// ErrNotFound is returned by Status for an unknown (or expired) task id.
var ErrNotFound = errors.New("task not found")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the task fails without retry.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or an error it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Bounds of the delay a RetryAfter error asks for: the worker waits at least
// Options.MinRetryAfter (default DefaultMinRetryAfter) and at most
// MaxRetryAfter, whatever the handler said.
const (
	DefaultMinRetryAfter = time.Second
	MaxRetryAfter        = time.Hour
)

// DefaultMaxDeferrals is the default of Options.MaxDeferrals: with delays of
// at most MaxRetryAfter, a task is deferred for at most two days.
const DefaultMaxDeferrals = 48

// retryAfterError marks an error that is not a failure: the task should run
// again once d has passed.
type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as "not a failure: try again after d" — a rate limit
// whose reset the API announced (GitHub's Retry-After and X-RateLimit-Reset,
// primary or secondary limits; a 429 with Retry-After from Gemini). The worker
// puts the task back in the queue for that long (clamped to
// [Options.MinRetryAfter, MaxRetryAfter]; a negative d counts as 0) without
// counting an attempt: MaxAttempts is only consumed by real failures. The
// record says pending, with NextAttempt and a Note. A task deferred more than
// Options.MaxDeferrals times fails with an error that says so.
//
// Integrations whose client reads such a hint (the GitHub platforms, with
// integrations/github/client.RetryAfter) should return
// RetryAfter(err, hint) for it rather than a plain transient error. Permanent
// takes precedence when an error carries both marks.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: max(d, 0)}
}

// RetryAfterDelay reports the delay that err (or an error it wraps) asks for
// through RetryAfter, as the handler gave it (before the worker's clamp).
func RetryAfterDelay(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.d, true
	}
	return 0, false
}
