package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Describe writes the human-readable form of a report, as `steward config check`
// prints it: per integration and platform the classifications in force, every
// rule with its provenance, conditions and actions (marked irreversible, !yolo,
// rejected), disabled rules with the reason; then every warning and error.
func Describe(w io.Writer, r *Report) error {
	var b strings.Builder
	if r == nil {
		r = &Report{}
	}
	if len(r.Platforms) == 0 {
		b.WriteString("No platform is configured: there are no rules.\n")
	}
	for _, p := range r.Platforms {
		fmt.Fprintf(&b, "%s / %s\n", p.Integration, p.Platform)
		fmt.Fprintf(&b, "  classifications (from %s, hash %s):\n", p.ClassificationsFrom, p.ClassificationHash)
		if len(p.Classifications) == 0 {
			b.WriteString("    (none)\n")
		}
		for _, c := range p.Classifications {
			t := string(typeOf(c))
			if len(c.Values) > 0 {
				t += " [" + strings.Join(c.Values, ", ") + "]"
			}
			fmt.Fprintf(&b, "    %s: %s — %s\n", c.Name, t, c.Prompt)
		}
		n := 0
		for _, rr := range r.Rules {
			if rr.Integration != p.Integration || rr.Platform != p.Platform {
				continue
			}
			if n == 0 {
				b.WriteString("  rules:\n")
			}
			n++
			describeRule(&b, rr)
		}
		if n == 0 {
			b.WriteString("  rules: (none)\n")
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(&b, "\nWarnings (%d):\n", len(r.Warnings))
		for _, s := range r.Warnings {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "\nErrors (%d):\n", len(r.Errors))
		for _, s := range r.Errors {
			fmt.Fprintf(&b, "  - %s\n", s)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing the rules report: %w", err)
	}
	return nil
}

func describeRule(b *strings.Builder, rr RuleReport) {
	state := ""
	if rr.Disabled {
		state = "  DISABLED"
	}
	fmt.Fprintf(b, "    #%d %s%s\n", rr.Index, rr.Provenance, state)
	if len(rr.When) == 0 {
		b.WriteString("      when: (always)\n")
	} else {
		parts := make([]string, len(rr.When))
		for i, c := range rr.When {
			parts[i] = c.Key + ": " + formatValue(c.Value)
		}
		fmt.Fprintf(b, "      when: %s\n", strings.Join(parts, ", "))
	}
	if len(rr.Actions) == 0 {
		b.WriteString("      then: (nothing)\n")
	}
	for _, a := range rr.Actions {
		var marks []string
		if a.Irreversible {
			marks = append(marks, "irreversible")
		} else {
			marks = append(marks, "reversible")
		}
		if a.Yolo {
			marks = append(marks, "!yolo")
		}
		if a.Rejected {
			marks = append(marks, "rejected")
		}
		fmt.Fprintf(b, "      then: %s [%s]\n", a.Action, strings.Join(marks, ", "))
	}
	if rr.Disabled {
		fmt.Fprintf(b, "      disabled: %s\n", rr.Reason)
	}
}

// formatValue renders a condition value compactly (JSON when possible, without
// HTML escaping so ">= 0.8" reads as written).
func formatValue(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err == nil {
		return strings.TrimSuffix(b.String(), "\n")
	}
	return fmt.Sprintf("%v", v)
}
