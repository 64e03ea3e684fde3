package gateway

import "net/http"

// integrationView is one element of GET /integrations.
type integrationView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// Platforms are the enabled platforms in manifest order. nil (key left out)
	// when the type has no platforms or the config omits `platforms:`; empty but
	// present when every platform block is null.
	Platforms []string `json:"platforms,omitzero"`
}

// listIntegrations answers GET /integrations: every configured integration in
// config order.
func (h *handler) listIntegrations(w http.ResponseWriter, _ *http.Request) {
	cfg := h.currentConfig()
	out := make([]integrationView, 0, len(cfg.Integrations))
	for _, in := range cfg.Integrations {
		v := integrationView{ID: in.ID(), Name: in.Name, Type: in.Type}
		if in.HasPlatforms {
			v.Platforms = make([]string, 0, len(in.Platforms))
			for _, p := range in.Platforms {
				v.Platforms = append(v.Platforms, p.Name)
			}
		}
		out = append(out, v)
	}
	h.writeJSON(w, http.StatusOK, out)
}
