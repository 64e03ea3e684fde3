// Package config owns Steward's configuration: finding config.yaml and
// secrets.yaml, parsing them in the reference (GaaS) format, validating every
// section against the integration manifests, layering STEWARD_* environment
// variables and command-line flags over the file, and rendering the result with
// secrets masked (`steward config check`). It also owns the small grammars other
// packages share: IntervalToCron, ParseSchedule and ParseDuration.
//
// It never performs I/O beyond reading those two files, never talks to NATS, and
// never decides what an action does: the rules engine (internal/rules) judges
// provenance and the irreversible-action safety gate on the Automation values
// built here.
//
// # Format
//
// The reference format works unchanged: `!secret key` (resolved while parsing;
// credentials become a Secret), `!yolo` on one action, classification shorthand
// (name: "prompt"), automations with `when`/`then`, `schedule: {every|cron}`,
// `scripts`, `queue_policies`, `directories` and `chat`. Steward adds `nats:`,
// `gateway:`, and `concurrency`/`timeout` on LLM profiles.
//
// Parsing happens on yaml.v3 nodes so that every problem is reported with file,
// line and dotted key (integrations[0].platforms.inbox.automations[2].then) and
// what is allowed, and all problems are returned together as a *LoadError: the
// Errors with the warnings of the same pass, since a warning (an unknown key,
// "did you mean imap_server?") is often the reason for an error (imap_server:
// required). Error and warning texts never contain a secret value.
//
// # YAML 1.1 compatibility
//
// The reference reads YAML 1.1 (PyYAML); yaml.v3 reads YAML 1.2. Where it matters
// to users, Steward reads like the reference:
//   - unquoted yes/no/on/off/y/n/true/false, in any letter case, are booleans,
//     both for boolean fields and in condition values (`is_noreply: yes`); quoted
//     ("yes") they stay text. PyYAML reads only yes/Yes/YES-style spellings as
//     booleans, not y/n or "yEs"; so where text is expected (a model name, an
//     action, an enum value) those remain text as they were for the reference,
//     while yes/no/on/off there are an error asking for quotes, as in the
//     reference.
//   - unquoted dates and timestamps (2026-01-15, 2026-01-15 10:00:00) in
//     condition values decode to time.Time; quoted they stay text. In a text
//     field an unquoted date is taken as its text.
//   - 1.1 octal 0777 is read as 511, as in PyYAML. Base-60 numbers (1:30) are not
//     supported and stay text ("1:30"), where PyYAML would read 90.
//   - merge keys (<<: *anchor) work as in PyYAML; aliases are expanded with a
//     budget so a hostile document cannot exhaust memory.
//
// # Differences from the reference (deliberate fixes)
//
//   - Unknown keys produce a warning naming file:line, the key and the keys
//     allowed there (the reference ignores them silently); an unknown platform
//     name under `platforms:` is an error listing the valid ones, and so is an
//     unknown top-level key (a misspelt `intergrations:` would otherwise run
//     Steward with nothing configured), except keys starting with x-, which
//     are free for YAML anchors.
//   - schedule.every and schedule.cron are validated at load (the reference fails
//     only when the scheduler starts), as is queue_policies rate_limit.per.
//   - schedule.every is an exact interval: 45m runs every 45 minutes (the
//     reference's */45 ran at :00 and :45). Intervals that divide the hour or
//     the day (15m, 2h, 1d) stay on the clock as before; the others become
//     "@every 45m", counted from midnight UTC (see IntervalToCron). A number
//     without a unit (every: 15) is an error that names the unit to add.
//   - A missing `llms` section is not fatal: Steward starts without an LLM and
//     warns. An integration with enabled platforms whose `llm` names a profile
//     that does not exist is an error (the reference fails at classify time).
//   - An empty file or `directories: null` gives defaults instead of a crash.
//   - Duplicate keys in a mapping are errors (PyYAML keeps the last silently).
//   - A credential field (manifest Secret, llms.*.token, gateway.token) written
//     inline is taken as its text, even if it looks like a number, with a warning
//     to move it to secrets.yaml; messages never show it.
//   - A !secret with no secrets file at all says that the file does not exist,
//     with its path and how to create it, instead of "Available secrets: []".
//   - secrets.yaml values are taken as written (`yes` stays "yes", 0123 stays
//     "0123", null is ""), not Python's str() of the YAML 1.1 value ("True").
//   - Integration and LLM profile names are limited to letters, digits, '_' and
//     '-', because they become NATS subject tokens, KV keys and directories.
//   - A literal "!yolo" key in an action mapping is rejected: only the tag marks
//     an action as accepted from LLM-influenced rules.
//   - Reference warnings name the integration by composite id
//     ('email.personal.inbox', not 'personal.inbox').
//   - An explicit `rate_limit: null` in an override removes the default's rate
//     limit (PolicyOverride.ClearRateLimit), as the reference's "explicitly
//     written fields win" rule implies.
//   - Explicit null for a field that has a default gives the default (the
//     reference's inbox `limit: null` meant 500 at check time).
//   - directories.task_queue, directories.chats and
//     directories.custom_integrations are accepted with a notice and ignored:
//     tasks and chats live in JetStream, integrations are compiled in.
//
// # Layering
//
// For the scalar keys listed by OverridableKeys, flags (LoadOptions.Overrides)
// win over STEWARD_* environment variables (EnvName), which win over the file.
// An empty environment variable counts as unset. A fresh viper instance does the
// layering on each Load; the package keeps no global state.
package config
