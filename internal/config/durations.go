package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// splitInterval applies the reference grammar shared by every, retention and
// rate-limit durations: after trimming and lower-casing, the whole text is
// <digits><optional whitespace><m|h|d>. It returns the digits without leading
// zeros ("0" for all zeros) and the unit.
func splitInterval(s string) (digits string, unit byte, ok bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 || i == len(t) {
		return "", 0, false
	}
	digits = t[:i]
	rest := strings.TrimLeftFunc(t[i:], unicode.IsSpace)
	if len(rest) != 1 || (rest[0] != 'm' && rest[0] != 'h' && rest[0] != 'd') {
		return "", 0, false
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		digits = "0"
	}
	return digits, rest[0], true
}

// IntervalToCron converts a friendly schedule interval (`every:`) to the
// schedule expression the scheduler runs (see ParseSchedule). The grammar and
// ranges are the reference's interval_to_cron: "Nm" (1–59), "Nh" (1–23) or
// "1d"; case and surrounding whitespace are ignored.
//
// Unlike the reference, the interval is always exact:
//   - an interval that divides the hour or the day stays aligned to the clock,
//     as before: "15m" → "*/15 * * * *" (:00, :15, :30, :45), "2h" → "0 */2 * * *",
//     "1d" → "0 0 * * *";
//   - any other interval becomes "@every <interval>": "45m" → "@every 45m" runs
//     every 45 minutes (the reference's "*/45" ran at :00 and :45, leaving gaps of
//     45 and 15 minutes), "5h" → "@every 5h". Its times are counted from midnight
//     UTC, so they do not depend on when Steward started.
//
// A number without a unit ("15") is an error saying which unit to add.
func IntervalToCron(s string) (string, error) {
	if t := strings.TrimSpace(s); t != "" && strings.Trim(t, "0123456789") == "" {
		return "", fmt.Errorf("%s", missingUnit(t))
	}
	digits, unit, ok := splitInterval(s)
	if !ok {
		return "", fmt.Errorf("Invalid interval format: '%s' (expected e.g. '30m', '2h', '1d')", s)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || len(digits) > 9 {
		n = math.MaxInt32 // out of every range below; the message shows the digits as written
	}
	switch unit {
	case 'm':
		if n < 1 || n > 59 {
			return "", fmt.Errorf("Minute interval must be 1-59, got %s", digits)
		}
		if 60%n == 0 {
			return fmt.Sprintf("*/%d * * * *", n), nil
		}
		return fmt.Sprintf("%s%dm", everyPrefix, n), nil
	case 'h':
		if n < 1 || n > 23 {
			return "", fmt.Errorf("Hour interval must be 1-23, got %s", digits)
		}
		if 24%n == 0 {
			return fmt.Sprintf("0 */%d * * *", n), nil
		}
		return fmt.Sprintf("%s%dh", everyPrefix, n), nil
	default: // 'd'
		if n != 1 {
			return "", fmt.Errorf("Day interval only supports '1d' (daily), got %sd", digits)
		}
		return "0 0 * * *", nil
	}
}

// missingUnit explains an interval written as a bare number, suggesting the
// units under which that number is a valid interval.
func missingUnit(digits string) string {
	n, err := strconv.Atoi(digits)
	if err != nil || len(digits) > 9 {
		n = 0
	}
	var units []string
	if n >= 1 && n <= 59 {
		units = append(units, fmt.Sprintf("%dm (minutes)", n))
	}
	if n >= 1 && n <= 23 {
		units = append(units, fmt.Sprintf("%dh (hours)", n))
	}
	if n == 1 {
		units = append(units, "1d (daily)")
	}
	if len(units) == 0 {
		return fmt.Sprintf("the interval %s is missing a unit: write minutes (1m-59m), hours (1h-23h) or 1d, e.g. 30m", digits)
	}
	return fmt.Sprintf("the interval %s is missing a unit: write %s", digits, joinOr(units))
}

// joinOr joins ["a", "b", "c"] as "a, b or c".
func joinOr(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// everyPrefix starts a schedule expression that runs at an exact interval.
const everyPrefix = "@every "

// ParseSchedule parses a schedule expression as the scheduler runs it: a
// standard 5-field cron expression (minute hour day-of-month month
// day-of-week; descriptors such as @daily work too), read in the scheduler's
// time zone, or "@every <duration>" (a whole number of minutes, e.g. "@every
// 45m", "@every 1h30m"), which fires at exactly that interval. The times of an
// @every schedule are the multiples of the interval counted from midnight UTC
// (of year 1, so for an interval that divides a day, such as 45m, they are the
// same every day: 00:00, 00:45, 01:30 ... UTC): they do not depend on when
// Steward started, so a restart keeps the rhythm and several schedulers fire at
// the same instants.
func ParseSchedule(expr string) (sched cron.Schedule, err error) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), everyPrefix); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Minute || d%time.Minute != 0 {
			return nil, fmt.Errorf("@every takes a whole number of minutes, at least 1m (e.g. @every 45m, @every 1h30m), got %s", quoteShort(rest))
		}
		return IntervalSchedule{Every: d}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return cron.ParseStandard(expr)
}

// IntervalSchedule fires at exactly every Every: at the instants that are
// whole multiples of Every since midnight UTC of January 1st, year 1 (the zero
// time.Time), whatever the time zone. It is what "every: 45m" and
// "@every 45m" run (see ParseSchedule).
type IntervalSchedule struct {
	Every time.Duration
}

// Next returns the first multiple of Every after t, in t's location.
func (s IntervalSchedule) Next(t time.Time) time.Time {
	if s.Every <= 0 {
		return time.Time{}
	}
	return t.Truncate(s.Every).Add(s.Every)
}

// ParseDuration parses the reference duration grammar used by queue_policies
// (retention, rate_limit.per): <digits><optional whitespace><m|h|d>, trimmed and
// case-insensitive ("30m", "1h", "7d", " 7 D "). "0m" is zero.
func ParseDuration(s string) (time.Duration, error) {
	d, ok := parseIntervalDuration(s)
	if !ok {
		return 0, fmt.Errorf("Invalid duration format: '%s' (expected e.g. '30m', '1h', '1d')", s)
	}
	return d, nil
}

func parseIntervalDuration(s string) (time.Duration, bool) {
	digits, unit, ok := splitInterval(s)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	per := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[unit]
	if n > int64(math.MaxInt64/per) {
		return 0, false // would overflow time.Duration (≈292 years)
	}
	return time.Duration(n) * per, true
}

// parseFlexibleDuration accepts a Go duration ("90s", "1m30s") or the reference
// grammar ("30m", "1h", "1d"); used for Steward's own duration keys.
func parseFlexibleDuration(s string) (time.Duration, bool) {
	if d, ok := parseIntervalDuration(s); ok {
		return d, true
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return d, err == nil
}

// formatDuration writes a duration the way a user would ("7d", "1h", "90s").
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
