// Package script holds what the scriptable HTTP stand-ins of package testkit
// (llmfake, geminifake) share: a queue of scripted replies in front of a reply
// function, waiting out a latency, hanging until the client gives up, and
// writing a raw body.
//
// It does not depend on package testing.
package script

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// Queue hands out the reply to each request: scripted replies first, one per
// request, in order; then the reply function's; without one, the default's.
// All methods are safe for concurrent use.
type Queue[Req, Resp any] struct {
	def func() Resp

	mu     sync.Mutex
	script []Resp
	reply  func(Req) Resp
}

// NewQueue returns an empty queue whose default reply is def.
func NewQueue[Req, Resp any](def func() Resp) *Queue[Req, Resp] {
	return &Queue[Req, Resp]{def: def}
}

// SetReply sets the function that answers once the script is empty; nil
// restores the default.
func (q *Queue[Req, Resp]) SetReply(f func(Req) Resp) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reply = f
}

// Push queues one-off replies after those already scripted.
func (q *Queue[Req, Resp]) Push(rs ...Resp) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.script = append(q.script, rs...)
}

// Pending is the number of scripted replies not used yet.
func (q *Queue[Req, Resp]) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.script)
}

// Clear drops the scripted replies not used yet; the reply function stays.
func (q *Queue[Req, Resp]) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.script = nil
}

// Next takes the next scripted reply, or asks the reply function (outside
// the lock), or the default.
func (q *Queue[Req, Resp]) Next(req Req) Resp {
	q.mu.Lock()
	if len(q.script) > 0 {
		r := q.script[0]
		q.script = q.script[1:]
		q.mu.Unlock()
		return r
	}
	f := q.reply
	q.mu.Unlock()
	if f == nil {
		return q.def()
	}
	return f(req)
}

// Precision is the spin to pass [WaitUntil] for a latency that is the one
// configured to within microseconds.
const Precision = time.Millisecond

// WaitUntil returns at deadline; false when ctx ends (the client left) or
// closing is closed (the server is closing) first. It sleeps until spin
// before the deadline and yields the processor in a loop for the rest; with
// spin 0 it only sleeps.
//
// Go timers fire up to ~1 ms late (the runtime sleeps in whole milliseconds),
// which would make a 50 ms backend a 50.5 ms one on average. A model computes
// until it is done, so a stand-in that passes [Precision] sleeps until 1 ms
// before the deadline and yields the processor in a loop for the rest: its
// latency is the latency configured, to within microseconds.
func WaitUntil(ctx context.Context, deadline time.Time, closing <-chan struct{}, spin time.Duration) bool {
	if d := time.Until(deadline) - spin; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		case <-closing:
			return false
		}
	}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// Hang blocks until ctx ends (the client gives up) or closing is closed (the
// server is closing): a reply that never comes.
func Hang(ctx context.Context, closing <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-closing:
	}
}

// WriteRaw writes body as it is, with status and Content-Type contentType
// (def when contentType is "").
func WriteRaw(w http.ResponseWriter, status int, body []byte, contentType, def string) {
	if contentType == "" {
		contentType = def
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
