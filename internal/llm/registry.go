package llm

import (
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/config"
)

// DefaultProfile is the profile used wherever none is named (integration
// llm, chat.llm), as in the reference.
const DefaultProfile = "default"

// Registry holds one [Client] per configured profile, so every conversation
// of a profile shares one backend and its connection pool. It is read-only
// after NewRegistry and safe for concurrent use.
type Registry struct {
	clients map[string]*Client
	names   []string
}

// NewRegistry builds the clients of every profile (in config order); opts
// apply to each. A profile that cannot be built fails the whole registry with
// its Permanent error.
func NewRegistry(profiles []config.LLMProfile, opts ...Option) (*Registry, error) {
	r := &Registry{clients: make(map[string]*Client, len(profiles))}
	for _, p := range profiles {
		c, err := NewClient(p, opts...)
		if err != nil {
			return nil, err
		}
		if _, dup := r.clients[c.profile]; dup {
			return nil, &Error{Kind: Permanent, Profile: c.profile, msg: "profile defined twice"}
		}
		r.clients[c.profile] = c
		r.names = append(r.names, c.profile)
	}
	return r, nil
}

// Client returns the client of a profile ("" = [DefaultProfile]). An unknown
// name is a Permanent [*Error] wrapping [ErrUnknownProfile] that lists the
// configured names.
func (r *Registry) Client(name string) (*Client, error) {
	if name == "" {
		name = DefaultProfile
	}
	if c, ok := r.clients[name]; ok {
		return c, nil
	}
	avail := "none configured"
	if len(r.names) > 0 {
		avail = "available: " + strings.Join(r.names, ", ")
	}
	return nil, &Error{Kind: Permanent, Profile: name, Err: ErrUnknownProfile,
		msg: fmt.Sprintf("unknown LLM profile (%s)", avail)}
}

// Names lists the profiles in config order.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }
