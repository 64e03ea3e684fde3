package llm

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Gate admits one request to the backend of profile: it blocks until the
// request may go out and returns the function that ends its admission. The
// LLM lanes install one per task (a global lease, see msg.AcquireLease) so the
// profile's concurrency bound counts exactly the time a request is in flight:
// the client enters the gate right before it sends and leaves it when the
// answer is read (or, for an abandoned request, after the backend had time to
// notice). A structured turn that retries enters once per attempt.
type Gate func(ctx context.Context, profile string) (release func(), err error)

// gateKey carries a Gate in a context.
type gateKey struct{}

// WithGate returns ctx carrying g: requests made with it go through g.
func WithGate(ctx context.Context, g Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

// ErrUngated is wrapped by the Permanent error of a request made without a
// gate by a client that requires one (see [RequireGate]). A Gate that refuses a
// request for good (e.g. it is for another profile's lane) wraps it too; any
// other Gate error is Transient.
var ErrUngated = errors.New("LLM request outside an LLM lane")

// RequireGate makes the client refuse requests whose context carries no
// [Gate]: in Steward every LLM request runs on its profile's lane, which bounds
// it, so an ungated one is a wiring bug that would break
// llms.<profile>.concurrency.
func RequireGate() Option { return func(o *options) { o.requireGate = true } }

// enter passes the gate of ctx; release is never nil when err is nil.
func (c *Client) enter(ctx context.Context) (release func(), err *Error) {
	g, _ := ctx.Value(gateKey{}).(Gate)
	if g == nil {
		if c.requireGate {
			return nil, &Error{Kind: Permanent, Profile: c.profile, Err: ErrUngated,
				msg: fmt.Sprintf("refusing a request outside the %s lane, which bounds llms.%s.concurrency", "llm_"+c.profile, c.profile)}
		}
		return func() {}, nil
	}
	leave, gerr := g(ctx, c.profile)
	if gerr != nil {
		if ctx.Err() != nil {
			return nil, &Error{Kind: Transient, Profile: c.profile, Err: ctx.Err(),
				msg: "request abandoned while waiting for a free slot: " + ctx.Err().Error()}
		}
		// A gate that refuses the request (a wiring bug) is permanent; one that
		// could not admit it now (its lane is stopping) is not.
		kind := Transient
		if errors.Is(gerr, ErrUngated) {
			kind = Permanent
		}
		return nil, &Error{Kind: kind, Profile: c.profile, Err: gerr, msg: "cannot take a slot: " + gerr.Error()}
	}
	var once sync.Once
	return func() { once.Do(leave) }, nil
}
