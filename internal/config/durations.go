package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// IntervalToCron converts a friendly schedule interval to a 5-field cron
// expression, exactly as the reference's interval_to_cron: "Nm" (1–59) →
// "*/N * * * *", "Nh" (1–23) → "0 */N * * *", "1d" → "0 0 * * *". Case and
// surrounding whitespace are ignored. Note that "*/45 * * * *" fires at :00 and
// :45, not every 45 minutes (inherited cron semantics).
func IntervalToCron(s string) (string, error) {
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
		return fmt.Sprintf("*/%d * * * *", n), nil
	case 'h':
		if n < 1 || n > 23 {
			return "", fmt.Errorf("Hour interval must be 1-23, got %s", digits)
		}
		return fmt.Sprintf("0 */%d * * *", n), nil
	default: // 'd'
		if n != 1 {
			return "", fmt.Errorf("Day interval only supports '1d' (daily), got %sd", digits)
		}
		return "0 0 * * *", nil
	}
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
