package config

import (
	"fmt"
	"strings"
)

// crossCheck runs the checks that need the whole configuration: references from
// automations to scripts and services (the reference's non-disabling start-up
// warnings, same texts, but naming the integration by its composite id so that
// email.personal and github.personal are told apart).
func (p *parser) crossCheck(cfg *Config) {
	configured := map[string]bool{}
	for _, in := range cfg.Integrations {
		configured[in.ID()] = true
	}
	for ii, in := range cfg.Integrations {
		for _, pl := range in.Platforms {
			where := in.ID() + "." + pl.Name
			for ai, a := range pl.Automations {
				base := fmt.Sprintf("integrations[%d].platforms.%s.automations[%d].then", ii, pl.Name, ai)
				for _, act := range a.Then {
					p.checkActionRefs(cfg, act, where, base, configured)
				}
			}
		}
	}
}

func (p *parser) checkActionRefs(cfg *Config, act Action, where, key string, configured map[string]bool) {
	warn := func(format string, args ...any) {
		p.warnings = append(p.warnings, Warning{Position: act.Pos, Key: key, Message: fmt.Sprintf(format, args...)})
	}
	switch act.Kind {
	case ActionScript:
		if _, ok := cfg.Script(act.Script.Name); !ok {
			warn("Automation in '%s' references undefined script '%s'", where, act.Script.Name)
		}
	case ActionService:
		call := act.Service.Call
		typ, instance, service, ok := splitServiceCall(call)
		if !ok {
			warn("Automation in '%s' has malformed service call '%s' (expected 'type.instance.service')", where, call)
			return
		}
		m, found := p.reg.Get(typ)
		if !found {
			warn("Automation in '%s' references unknown service '%s'", where, call)
			return
		}
		if _, found := m.Service(service); !found {
			names := make([]string, 0, len(m.Services))
			for _, s := range m.Services {
				names = append(names, s.Name)
			}
			warn("Automation in '%s' references unknown service '%s' (%s services: %s)", where, call, typ, strings.Join(names, ", "))
			return
		}
		if !configured[typ+"."+instance] {
			warn("Automation in '%s' calls '%s' but no integration '%s.%s' is configured: the call will fail", where, call, typ, instance)
		}
	}
}
