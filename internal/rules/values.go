package rules

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// toFloat converts any Go number (and json.Number) to float64. Booleans are not
// numbers.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// isNumber reports whether v is a Go number or a json.Number.
func isNumber(v any) bool {
	_, ok := toFloat(v)
	return ok
}

// toInt converts integer kinds (and integral json.Number) exactly.
func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// equal is the equality of deterministic conditions: numbers by value across Go
// number types (3 == 3.0), booleans only with booleans (1 is not true), strings
// exactly, times by instant (a time also equals an ISO-8601 string denoting the
// same instant), lists and mappings structurally.
func equal(value, cond any) bool {
	switch c := cond.(type) {
	case nil:
		return value == nil
	case bool:
		b, ok := value.(bool)
		return ok && b == c
	case string:
		if t, ok := value.(time.Time); ok {
			ct, ok := parseISOTime(c)
			return ok && t.Equal(ct)
		}
		s, ok := value.(string)
		return ok && s == c
	case time.Time:
		t, ok := asTime(value)
		return ok && t.Equal(c)
	case []any:
		l, ok := asList(value)
		if !ok || len(l) != len(c) {
			return false
		}
		for i := range l {
			if !equal(l[i], c[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		m, ok := asMap(value)
		if !ok || len(m) != len(c) {
			return false
		}
		for k, cv := range c {
			mv, present := m[k]
			if !present || !equal(mv, cv) {
				return false
			}
		}
		return true
	}
	if isNumber(cond) {
		if !isNumber(value) {
			return false
		}
		if a, ok := toInt(value); ok {
			if b, ok := toInt(cond); ok {
				return a == b
			}
		}
		a, _ := toFloat(value)
		b, _ := toFloat(cond)
		return a == b
	}
	return reflect.DeepEqual(value, cond)
}

// asList returns v as a []any when it is any kind of slice or array (strings and
// byte slices excluded).
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	if l, ok := v.([]string); ok {
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// asMap returns v as a map[string]any when it is a map with string keys.
func asMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	iter := rv.MapRange()
	for iter.Next() {
		out[iter.Key().String()] = iter.Value().Interface()
	}
	return out, true
}

// asTime interprets a fact as an instant: a time.Time, or a string in ISO-8601
// form (see parseISOTime).
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		return parseISOTime(x)
	}
	return time.Time{}, false
}

// parseISOTime parses the ISO-8601 forms the reference accepted in practice:
// a date (2026-01-15 or 20260115), optionally followed by "T" or a space and a
// time (15:04, 15:04:05, 15:04:05.123456) and a zone (Z, +01:00, +0100, +01).
// A value without a zone is UTC; a date alone is midnight UTC.
func parseISOTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 8 && isDigits(s[:8]) && (len(s) == 8 || s[8] == 'T' || s[8] == ' ') {
		s = s[:4] + "-" + s[4:6] + "-" + s[6:8] + s[8:] // basic date form
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	layouts := [...]string{
		"2006-01-02",
		"2006-01-02T15:04Z07:00", "2006-01-02T15:04-0700", "2006-01-02T15:04-07", "2006-01-02T15:04",
		"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05-07", "2006-01-02T15:04:05",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
