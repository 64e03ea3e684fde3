package msg

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Router dispatches tasks to handlers by task type. A type with no handler fails
// permanently with "Unknown task type: <type>".
type Router struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{handlers: map[string]Handler{}} }

// Handle registers h for a task type, replacing any earlier handler.
func (r *Router) Handle(taskType string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[taskType] = h
}

// Types lists the registered task types, sorted.
func (r *Router) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Dispatch runs the handler of t's type. It is itself a Handler.
func (r *Router) Dispatch(ctx context.Context, t *Task) (any, error) {
	r.mu.RLock()
	h, ok := r.handlers[t.Type]
	r.mu.RUnlock()
	if !ok {
		return nil, Permanent(fmt.Errorf("Unknown task type: %s", t.Type))
	}
	return h(ctx, t)
}
