package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/internal/template"
)

// Result routing (spec github_services §4.7).
//
// When a service task (service.<type>.<service>) ends with a result, its
// result is stored in its task record as every result is, and each entry of
// the payload's on_result becomes a route task of its own carrying that
// result: result.note writes a note through the journal, result.chat_reply
// appends it to a conversation (handled by the chat service). A route that
// fails is retried by the lane like any task — alone: the service is not run
// again. A service task without on_result gets [{type: note}]; an explicit
// empty list routes nowhere; an unknown route type is logged and skipped.
// Routing never fails the service task.

// Route task types.
const (
	TaskResultNote      = "result.note"
	TaskResultChatReply = "result.chat_reply"
)

// Route types of on_result.
const (
	RouteNote      = "note"
	RouteChatReply = "chat_reply"
)

// routeTypes maps an on_result type to its route task type.
var routeTypes = map[string]string{RouteNote: TaskResultNote, RouteChatReply: TaskResultChatReply}

// RoutePayload is the payload of a route task: the service task it routes,
// the route entry, and the service's result.
type RoutePayload struct {
	// Source is the id of the service task whose result this is.
	Source string `json:"source"`
	// Service is the service task type, e.g. service.gemini.web_research.
	Service string `json:"service"`
	// Integration is the service task's payload.integration ("" = none).
	Integration string `json:"integration,omitempty"`
	// Inputs are the service task's payload.inputs.
	Inputs map[string]any `json:"inputs"`
	// HumanLog is the rendered human-log text ("" = none: a fallback line).
	HumanLog string `json:"human_log,omitempty"`
	// Item is the item the service was called for ("" = none).
	Item string `json:"item,omitempty"`
	// CompletedAt is when the service finished; notes are named and dated with it,
	// so a retried route writes the same file.
	CompletedAt time.Time `json:"completed_at"`
	// Route is the on_result entry ({type: note, path: ...}).
	Route map[string]any `json:"route"`
	// Result is what the service handler returned.
	Result map[string]any `json:"result"`
}

// servicePayload are the fields of a service task the routing reads.
type servicePayload struct {
	Integration string         `json:"integration"`
	Inputs      map[string]any `json:"inputs"`
	HumanLog    string         `json:"human_log"`
	// HumanLogTemplate is a human_log that uses the result, rendered here
	// with HumanLogVars, the inputs and the result.
	HumanLogTemplate string           `json:"human_log_template"`
	HumanLogVars     map[string]any   `json:"human_log_vars"`
	Item             string           `json:"item"`
	OnResult         *json.RawMessage `json:"on_result"`
}

// routeResults wraps a handler: a service task that ends with a result gets
// one route task per on_result entry.
func (e *Engine) routeResults(next msg.Handler) msg.Handler {
	return func(ctx context.Context, t *msg.Task) (any, error) {
		res, err := next(ctx, t)
		if err != nil || res == nil || !strings.HasPrefix(t.Type, rules.ServiceTaskPrefix) {
			return res, err
		}
		if rerr := e.queueRoutes(ctx, t, res); rerr != nil {
			e.o.Logger.Error("result routing failed; result preserved in the task record", "task", t.ID, "type", t.Type, "err", rerr)
		}
		return res, nil
	}
}

// queueRoutes publishes the route tasks of a finished service task.
func (e *Engine) queueRoutes(ctx context.Context, t *msg.Task, res any) error {
	var p servicePayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	routes := []map[string]any{{"type": RouteNote}}
	if p.OnResult != nil && string(*p.OnResult) != "null" {
		routes = nil
		if err := json.Unmarshal(*p.OnResult, &routes); err != nil {
			return fmt.Errorf("on_result: want a list of mappings: %w", err)
		}
	}
	if len(routes) == 0 {
		return nil
	}
	result, err := asObject(res)
	if err != nil {
		return err
	}
	human := p.HumanLog
	switch {
	case human != "":
	case p.HumanLogTemplate != "":
		human = e.renderHumanLog(t.Type, p.HumanLogTemplate, p.HumanLogVars, p.Inputs, result)
	default:
		human = e.renderHumanLog(t.Type, e.manifestHumanLog(t.Type), nil, p.Inputs, result)
	}
	completed := e.o.Now().UTC()
	var errs []error
	for i, route := range routes {
		rt, _ := route["type"].(string)
		typ, ok := routeTypes[rt]
		if !ok {
			e.o.Logger.Warn("Unknown result route type: "+rt, "task", t.ID, "route", route)
			continue
		}
		payload := RoutePayload{Source: t.ID, Service: t.Type, Integration: p.Integration, Inputs: p.Inputs,
			HumanLog: human, Item: p.Item, CompletedAt: completed, Route: route, Result: result}
		if payload.Inputs == nil {
			payload.Inputs = map[string]any{}
		}
		m, err := asObject(payload)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The route's id derives from the service task's: a service task
		// redelivered after its routes were queued queues none twice.
		_, err = e.o.Bus.Publish(ctx, msg.Spec{ID: routeTaskID(t.ID, i), Type: typ, Lane: msg.LaneIO, Priority: t.Priority,
			Provenance: t.Provenance, Payload: m})
		if err != nil {
			errs = append(errs, fmt.Errorf("route %d (%s): %w", i, rt, err))
		}
	}
	return errors.Join(errs...)
}

// routeTaskID is the id of route i of a service task.
func routeTaskID(source string, i int) string {
	id := source + ".r" + strconv.Itoa(i)
	if len(id) > msg.MaxIDLen {
		id = id[len(id)-msg.MaxIDLen:]
		id = strings.TrimLeft(id, ".")
	}
	return id
}

// resultVar is the variable that holds the service's result in a human_log
// template.
const resultVar = "result"

// renderHumanLog renders a human_log template when the service has finished:
// the variables vars (the item's, for a template deferred by evaluate), then
// the inputs over them, then result. "" when there is no template or it does
// not render (logged: routing goes on with the fallback line).
func (e *Engine) renderHumanLog(taskType, src string, vars, inputs, result map[string]any) string {
	if src == "" {
		return ""
	}
	all := make(map[string]any, len(vars)+len(inputs)+1)
	for k, v := range vars {
		all[k] = v
	}
	for k, v := range inputs {
		all[k] = v
	}
	all[resultVar] = result
	out, err := template.Render(src, all)
	if err != nil {
		e.o.Logger.Warn("the service's human_log template does not render", "type", taskType, "err", err)
		return ""
	}
	return out
}

// manifestHumanLog returns the human_log template the manifest declares for
// a service task type ("" = none).
func (e *Engine) manifestHumanLog(taskType string) string {
	rest, ok := strings.CutPrefix(taskType, rules.ServiceTaskPrefix)
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return ""
	}
	m, ok := e.o.Registry.Get(rest[:i])
	if !ok {
		return ""
	}
	svc, ok := m.Service(rest[i+1:])
	if !ok {
		return ""
	}
	return svc.HumanLog
}

// asObject converts v to a JSON object.
func asObject(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("result is not JSON: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, fmt.Errorf("result is not a JSON object: %s", msg.Quote(string(data)))
	}
	return m, nil
}

// routeNote is the handler of result.note: it writes the result as a note
// through the journal (stream NOTES), then the human-log breadcrumb.
func (e *Engine) routeNote(ctx context.Context, t *msg.Task) (any, error) {
	var p RoutePayload
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	dir, err := noteDir(p.Service, p.Route)
	if err != nil {
		return nil, msg.Permanent(err)
	}
	at := p.CompletedAt.UTC()
	rel := dir + "/" + at.Format("2006_01_02__15_04_05") + "__" + shortID(p.Source) + ".md"
	front := map[string]any{}
	for k, v := range p.Result {
		if k != "text" {
			front[k] = v
		}
	}
	// The audit keys always win over result keys of the same name.
	front["service"] = p.Service
	front["integration"] = p.Integration
	front["inputs"] = p.Inputs
	front["completed_at"] = at
	body, _ := p.Result["text"].(string)
	emitter := e.o.Notes
	if emitter == nil {
		emitter = e.o.Bus
	}
	if err := notefile.EmitNote(ctx, emitter, notefile.NoteEvent{Path: rel, FrontMatter: front, Body: body, ID: t.ID}); err != nil {
		if errors.Is(err, notefile.ErrBadPath) {
			return nil, msg.Permanent(err)
		}
		return nil, fmt.Errorf("write note %s: %w", rel, err)
	}
	text := p.HumanLog + " → " + rel
	if p.HumanLog == "" {
		text = fmt.Sprintf("%s: result saved (%s chars) → %s", p.Service, thousands(utf8.RuneCountInString(body)), rel)
	}
	source := p.Integration
	if source == "" {
		source = "steward"
	}
	ev := audit.Event{Source: source, Kind: audit.KindService, Integration: p.Integration, Item: p.Item, ID: t.ID + ":log", Text: text}
	if err := audit.Emit(ctx, e.o.Bus, ev); err != nil {
		return nil, fmt.Errorf("daily log: %w", err)
	}
	return map[string]any{"path": rel}, nil
}

// noteDir is the directory of a routed note, relative to directories.notes:
// the route's path, or services/<type>/<service> from the task type. A path
// that would leave the notes directory is refused (the reference let it).
func noteDir(service string, route map[string]any) (string, error) {
	if p, _ := route["path"].(string); strings.TrimSpace(p) != "" {
		clean := strings.Trim(path.Clean("/"+strings.TrimSpace(p)), "/")
		if strings.HasPrefix(strings.TrimSpace(p), "/") || strings.Contains(p, "..") || clean == "" || strings.ContainsRune(p, '\\') {
			return "", fmt.Errorf("on_result note path %s: want a folder inside the notes directory (no '..', not absolute)", msg.Quote(p))
		}
		if err := notefile.ValidNotePath(clean + "/x.md"); err != nil {
			return "", fmt.Errorf("on_result note path %s: %w", msg.Quote(p), err)
		}
		return clean, nil
	}
	parts := strings.SplitN(service, ".", 3)
	if len(parts) == 3 {
		return "services/" + parts[1] + "/" + parts[2], nil
	}
	return "services", nil
}

// shortID is the uuid8 of a task id: the part before the first "--", after
// its last "_" ("unknown" for an empty id).
func shortID(id string) string {
	if id == "" {
		return "unknown"
	}
	head, _, _ := strings.Cut(id, "--")
	if i := strings.LastIndexByte(head, '_'); i >= 0 {
		return head[i+1:]
	}
	if len(head) > 8 {
		return head[:8]
	}
	return head
}

// thousands formats n with comma separators (2431 → "2,431").
func thousands(n int) string {
	s := strconv.Itoa(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// registerRoutes adds the handler of result.note (result.chat_reply is the
// chat service's).
func (e *Engine) registerRoutes(r *msg.Router) {
	r.Handle(TaskResultNote, e.routeNote)
}
