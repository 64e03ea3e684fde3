// Package builtin lists the integration types compiled into Steward.
package builtin

import (
	"github.com/stewardhq/steward/integrations/email"
	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/github"
	"github.com/stewardhq/steward/internal/manifest"
)

// Registry returns the manifests of every built-in integration type.
func Registry() *manifest.Registry {
	r, err := manifest.NewRegistry(email.Manifest(), github.Manifest(), gemini.Manifest())
	if err != nil {
		panic(err) // a programming error: the built-in set is fixed at compile time
	}
	return r
}
