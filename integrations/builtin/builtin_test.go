package builtin

import (
	"testing"

	"github.com/stewardhq/steward/internal/manifest"
)

// The built-in manifests are consistent: every platform has stages starting with
// its entry task, every declared action is unique, and the one irreversible email
// action is unsubscribe.
func TestBuiltinManifests(t *testing.T) {
	r := Registry()
	if got := r.Types(); len(got) != 4 {
		t.Fatalf("types %v", got)
	}
	for _, typ := range r.Types() {
		m, _ := r.Get(typ)
		for _, p := range m.Platforms {
			if len(p.Stages) == 0 || p.Stages[0] != p.EntryTask {
				t.Errorf("%s.%s: stages %v do not start with entry %q", typ, p.Name, p.Stages, p.EntryTask)
			}
			seen := map[string]bool{}
			for _, a := range p.Actions {
				if seen[a.Name] {
					t.Errorf("%s.%s: action %s twice", typ, p.Name, a.Name)
				}
				seen[a.Name] = true
			}
			if len(p.DefaultClassifications) == 0 {
				t.Errorf("%s.%s: no default classifications", typ, p.Name)
			}
		}
		for _, f := range m.Fields {
			if f.Required && f.Default != nil {
				t.Errorf("%s.%s: required with a default", typ, f.Name)
			}
		}
	}
	email, _ := r.Get("email")
	inbox, _ := email.Platform("inbox")
	var irreversible []string
	for _, a := range inbox.Actions {
		if a.Tier == manifest.Irreversible {
			irreversible = append(irreversible, a.Name)
		}
	}
	if len(irreversible) != 1 || irreversible[0] != "unsubscribe" {
		t.Fatalf("irreversible email actions %v", irreversible)
	}
	gemini, _ := r.Get("gemini")
	if len(gemini.Platforms) != 0 {
		t.Fatal("gemini has platforms")
	}
	if s, ok := gemini.Service("web_research"); !ok || s.Reversible {
		t.Fatal("web_research must be declared irreversible")
	}
}
