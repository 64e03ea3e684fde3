package rules

import (
	"slices"
	"strings"

	"github.com/stewardhq/steward/internal/config"
)

// Provenance values: which kind of evidence made a rule fire. They match the
// constants of internal/msg, which this package does not import.
const (
	// ProvenanceRule: every condition tests a deterministic fact (or there is none).
	ProvenanceRule = "rule"
	// ProvenanceLLM: every condition tests something the LLM decided (or a key
	// that is not a deterministic fact).
	ProvenanceLLM = "llm"
	// ProvenanceHybrid: both kinds of condition.
	ProvenanceHybrid = "hybrid"
)

// classificationPrefix starts every condition key that tests an LLM classification.
const classificationPrefix = "classification."

// namespace is the part of a condition key before its first dot.
func namespace(key string) string {
	if i := strings.IndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return key
}

// isDeterministic reports whether a condition key tests a deterministic fact: its
// namespace is one of the platform's deterministic keys. The "classification"
// namespace never is, whatever a manifest declares.
func isDeterministic(key string, deterministicKeys []string) bool {
	ns := namespace(key)
	return ns != "classification" && slices.Contains(deterministicKeys, ns)
}

// ProvenanceOf returns the provenance of one rule from its conditions: "rule" when
// every key's namespace (the text before the first dot) is one of the platform's
// deterministic keys, "llm" when none is (classification keys and unknown keys
// alike), "hybrid" when both kinds occur. An empty when is "rule".
func ProvenanceOf(when []config.Condition, deterministicKeys []string) string {
	det, other := false, false
	for _, c := range when {
		if isDeterministic(c.Key, deterministicKeys) {
			det = true
		} else {
			other = true
		}
	}
	switch {
	case det && other:
		return ProvenanceHybrid
	case other:
		return ProvenanceLLM
	default:
		return ProvenanceRule
	}
}

// normalizeProvenance maps anything but the three known values (including "")
// to llm: an act stage must not trust what it cannot read.
func normalizeProvenance(p string) string {
	switch p {
	case ProvenanceRule, ProvenanceHybrid:
		return p
	default:
		return ProvenanceLLM
	}
}
