// Package rules is Steward's rules engine: the pure function from an item's
// deterministic facts and its LLM classification to the actions a platform takes,
// plus the safety gate that decides which of those actions may run at all.
//
// It owns:
//
//   - classifications: validation of the config form (shorthand, confidence /
//     boolean / enum), the JSON Schema sent to the LLM ([Schema], [SchemaJSON]),
//     the matching result check ([ValidateResult]) and a stable hash of a
//     platform's classification config ([Hash]) so changed prompts or types
//     re-classify;
//   - conditions ([ParseCondition]) with the reference semantics, compiled once at
//     config load so a malformed condition is a config error, not a silent
//     never-match;
//   - provenance per rule ([ProvenanceOf]): "rule" when every condition key is a
//     deterministic fact, "llm" when none is, "hybrid" otherwise;
//   - the load-time gate ([Check]): a rule whose provenance is llm or hybrid and
//     that would run an irreversible action (or a script/service not declared
//     reversible) is disabled unless that action is tagged !yolo; and the
//     execution-time check ([AllowAtAct]) act stages call before each action;
//   - evaluation ([PlatformRules.Evaluate]) and the `steward config check`
//     rendering ([Describe]).
//
// The package never performs I/O, never talks to NATS and keeps no package-level
// mutable state: the current time is an argument, facts come through a
// [Resolver], and every result is a fresh value. Everything it returns after
// [Check] is read-only and safe for concurrent use.
//
// Deliberate differences from the reference system (see ARCHITECTURE §6):
//
//   - provenance travels per rule on each planned action instead of one value
//     aggregated over every rule that matched an item, and an action whose
//     provenance is missing or unknown is treated as llm at act time;
//   - the load gate checks every key of a dict action, so a literal "!yolo" key
//     is an undeclared action, not a bypass;
//   - booleans are strict everywhere: 1 is not true, a YAML boolean is not a
//     confidence threshold, a boolean is not a confidence value;
//   - confidences are bounded 0..1 in the schema (out-of-range output is invalid
//     and retried) and an out-of-range or undeclared stored value never matches;
//   - a list-valued fact (GitHub labels) matches a condition when it contains the
//     value (or, for a list condition, any of the values);
//   - every !yolo produces a start-up warning; a service call naming an instance
//     that is not configured is warned about at load;
//   - actions a platform does not declare are never produced.
package rules
