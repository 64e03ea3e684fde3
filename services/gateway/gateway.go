// Package gateway is Steward's HTTP API: health, the configured integrations,
// manual triggers of their entry tasks, task status, Prometheus metrics, the
// chat endpoints (/api/chat, served by the chat service) and the web UI (/ui,
// server-rendered from embedded templates and assets).
//
// It owns only the HTTP surface. It publishes tasks and reads their status through
// internal/msg and never runs a task itself. It listens on loopback unless a token
// is configured, and with a token every request must carry it as a bearer token.
// It must never log, echo or return a secret.
//
// Error replies keep the reference API's shape, JSON {"detail": "..."}, for every
// status, including unknown routes (404) and wrong methods (405).
//
// On loopback without a token a browser is the only way in, so the gateway
// also refuses what a hostile page could send: a Host that is not loopback or
// listed in gateway.hosts (DNS rebinding, 421), a state-changing request from
// another origin (403), and a request body not declared as JSON (415). Every id
// from outside is checked against a bounded grammar (ids.go) before it reaches
// a subject, a key or a reply. The Server bounds reading and writing each
// request, caps open connections and can serve HTTPS.
package gateway

import (
	"log/slog"
	"net/http"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
)

// DefaultMaxBodyBytes is the largest request body accepted when
// Options.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Options are what the gateway's handlers need.
type Options struct {
	// Config returns the current configuration. It is called on every request,
	// so a reloaded config applies at once. A nil result counts as an empty config.
	Config func() *config.Config
	// Registry holds the integration manifests (entry tasks, platform order).
	Registry *manifest.Registry
	// Bus publishes tasks and reads their status.
	Bus *msg.Bus
	// Metrics is served on /metrics; nil leaves /metrics unrouted (404).
	Metrics prometheus.Gatherer
	// Logger receives request logs (debug) and errors; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (0 = DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Chat serves /api/chat and the /ui/chat page's data; nil answers 503
	// {"detail": "Chat is not available"} on every /api/chat route.
	Chat ChatService
}

// handler holds the dependencies shared by the route handlers.
type handler struct {
	config   func() *config.Config
	registry *manifest.Registry
	bus      *msg.Bus
	metrics  prometheus.Gatherer
	log      *slog.Logger
	maxBody  int64
	chat     ChatService
	ui       *uiAssets
}

// New returns the gateway's HTTP handler. It does not check the bearer token:
// the Server built by NewServer does that, so the token and the decision to
// listen beyond loopback always go together (see RequireToken to compose it
// yourself).
func New(o Options) http.Handler {
	h := &handler{
		config:   o.Config,
		registry: o.Registry,
		bus:      o.Bus,
		metrics:  o.Metrics,
		log:      o.Logger,
		maxBody:  o.MaxBodyBytes,
		chat:     o.Chat,
	}
	if v := reflect.ValueOf(h.chat); h.chat != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		h.chat = nil // a nil *chat.Service counts as none
	}
	if h.config == nil {
		h.config = func() *config.Config { return nil }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	ui, err := loadUIAssets()
	if err != nil {
		// The templates are compiled in: this is a bug, caught by any test.
		panic("gateway: embedded UI: " + err.Error())
	}
	h.ui = ui
	return h.routes()
}

// currentConfig returns the current config, never nil.
func (h *handler) currentConfig() *config.Config {
	if c := h.config(); c != nil {
		return c
	}
	return &config.Config{}
}
