// Package builtin lists the integration types compiled into Steward.
package builtin

import (
	"log/slog"

	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/integrations/notes"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/platform"
)

// Integrations returns the implementations of every built-in integration type.
// A type whose platforms are not implemented yet still validates and lists; its
// platform tasks fail with "Unknown task type". The notes and gemini
// integrations listed here have no bus or config: their service handlers are
// registered by the process that runs the lanes (notes.New with an Emitter,
// gemini.New with the config, then Register).
func Integrations(log *slog.Logger) []platform.Integration {
	return []platform.Integration{
		email.New(email.Options{Logger: log}),
		manifestOnly{github.Manifest()},
		gemini.New(gemini.Options{Logger: log}),
		notes.New(notes.Options{Logger: log}),
	}
}

// manifestOnly is an integration type with no platform implementation yet.
type manifestOnly struct{ m *manifest.Manifest }

func (o manifestOnly) Manifest() *manifest.Manifest      { return o.m }
func (o manifestOnly) Platform(string) platform.Platform { return nil }

// Registry returns the manifests of every built-in integration type.
func Registry() *manifest.Registry {
	r, err := manifest.NewRegistry(email.Manifest(), github.Manifest(), gemini.Manifest(), notes.Manifest())
	if err != nil {
		panic(err) // a programming error: the built-in set is fixed at compile time
	}
	return r
}
