package msg

// Lookup returns the handler registered for a task type, so a service can wrap
// another's handler (the chat service routes the results of the services it
// proposes back into the conversation).
func (r *Router) Lookup(taskType string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[taskType]
	return h, ok
}
