package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
)

// startupWarningsEvent is the daily log's report of the config's start-up
// warnings (rules the safety gate disabled, every !yolo rule, ...), where the
// user reads them. It carries audit.TopicStartupWarnings, so the journal writes
// it only when the set differs from the one it wrote last: a restart with the
// same config adds nothing, and a config without warnings any more says so
// once.
func startupWarningsEvent(warnings []string) audit.Event {
	ev := audit.Event{Source: "steward", Kind: audit.KindWarning, Topic: audit.TopicStartupWarnings}
	if len(warnings) == 0 {
		ev.Resolved = true
		ev.Text = "Steward started with no start-up safety warnings any more."
		return ev
	}
	noun := "warnings"
	if len(warnings) == 1 {
		noun = "warning"
	}
	// Each warning starts with the file and line it is about.
	ev.Text = fmt.Sprintf("Steward started with %d start-up safety %s:\n%s", len(warnings), noun, strings.Join(warnings, "\n"))
	return ev
}

// reportStartupWarnings hands the start-up warnings to the journal (through
// the AUDIT stream, so it stays the only writer of the daily log). A failure
// is logged, not fatal: the warnings are in the operational log already.
func reportStartupWarnings(ctx context.Context, bus *msg.Bus, warnings []string, log *slog.Logger) {
	if err := audit.Emit(ctx, bus, startupWarningsEvent(warnings)); err != nil {
		log.Warn("start-up warnings not sent to the daily log", "err", err)
	}
}
