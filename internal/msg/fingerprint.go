package msg

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Fingerprint identifies a payload: the lower-case hex SHA-256 of its canonical JSON,
// cut to 16 characters. The reference used the first 8 characters of the same hash
// (Fingerprint(p)[:8] equals the reference value); Steward keeps 16 because the
// fingerprint is the dedup key of the stream, and 32 bits collide too easily for a
// key that silently drops work.
func Fingerprint(payload map[string]any) (string, error) {
	b, err := CanonicalJSON(payload)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16], nil
}

// CanonicalJSON encodes v the way the reference system's
// json.dumps(v, sort_keys=True, separators=(",", ":")) does: keys sorted, no
// spaces, non-ASCII escaped as \uXXXX (surrogate pairs beyond the BMP), no HTML
// escaping, floats in Python repr (1.0, 1e+16, 1e-07, -0.0). It accepts the values
// JSON decoding and Go payload literals produce.
func CanonicalJSON(v any) ([]byte, error) {
	var sb strings.Builder
	if err := canon(&sb, v); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

func canon(sb *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case string:
		canonString(sb, x)
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			sb.WriteString(string(x))
			return nil
		}
		f, err := x.Float64()
		if err != nil {
			return fmt.Errorf("canonical json: bad number %q", x)
		}
		return canonFloat(sb, f)
	case float64:
		return canonFloat(sb, x)
	case float32:
		return canonFloat(sb, float64(x))
	case int:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case uint64:
		sb.WriteString(strconv.FormatUint(x, 10))
	case uint32:
		sb.WriteString(strconv.FormatUint(uint64(x), 10))
	case uint:
		sb.WriteString(strconv.FormatUint(uint64(x), 10))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			canonString(sb, k)
			sb.WriteByte(':')
			if err := canon(sb, x[k]); err != nil {
				return err
			}
		}
		sb.WriteByte('}')
	case []any:
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteByte(',')
			}
			if err := canon(sb, e); err != nil {
				return err
			}
		}
		sb.WriteByte(']')
	case []string:
		sb.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				sb.WriteByte(',')
			}
			canonString(sb, e)
		}
		sb.WriteByte(']')
	default:
		// Anything else (structs, typed maps and slices) is normalised through
		// encoding/json first, decoding numbers as json.Number to keep their text.
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			sb.WriteString("null")
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("canonical json: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var generic any
		if err := dec.Decode(&generic); err != nil {
			return fmt.Errorf("canonical json: %w", err)
		}
		return canon(sb, generic)
	}
	return nil
}

// canonFloat writes f as Python's repr does.
func canonFloat(sb *strings.Builder, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("canonical json: %v is not valid JSON", f)
	}
	if f == 0 {
		if math.Signbit(f) {
			sb.WriteString("-0.0")
		} else {
			sb.WriteString("0.0")
		}
		return nil
	}
	// Shortest round-trip digits and decimal exponent.
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. -1.2345e+16
	neg := strings.HasPrefix(e, "-")
	if neg {
		e = e[1:]
	}
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	if neg {
		sb.WriteByte('-')
	}
	if exp >= -4 && exp < 16 {
		// Fixed notation (Python uses it for -4 <= exp < 16).
		switch {
		case exp < 0:
			sb.WriteString("0.")
			sb.WriteString(strings.Repeat("0", -exp-1))
			sb.WriteString(digits)
		case len(digits) <= exp+1:
			sb.WriteString(digits)
			sb.WriteString(strings.Repeat("0", exp+1-len(digits)))
			sb.WriteString(".0")
		default:
			sb.WriteString(digits[:exp+1])
			sb.WriteByte('.')
			sb.WriteString(digits[exp+1:])
		}
		return nil
	}
	sb.WriteString(digits[:1])
	if len(digits) > 1 {
		sb.WriteByte('.')
		sb.WriteString(digits[1:])
	}
	sb.WriteByte('e')
	if exp < 0 {
		sb.WriteByte('-')
		exp = -exp
	} else {
		sb.WriteByte('+')
	}
	if exp < 10 {
		sb.WriteByte('0')
	}
	sb.WriteString(strconv.Itoa(exp))
	return nil
}

// canonString writes s as a JSON string with Python's ensure_ascii escaping.
func canonString(sb *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\b':
			sb.WriteString(`\b`)
		case r == '\f':
			sb.WriteString(`\f`)
		case r < 0x20 || (r > 0x7e && r < 0x10000):
			if r == 0x7f {
				sb.WriteRune(r)
				continue
			}
			sb.WriteString(`\u`)
			sb.WriteByte(hexDigits[(r>>12)&0xf])
			sb.WriteByte(hexDigits[(r>>8)&0xf])
			sb.WriteByte(hexDigits[(r>>4)&0xf])
			sb.WriteByte(hexDigits[r&0xf])
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			for _, u := range []rune{r1, r2} {
				sb.WriteString(`\u`)
				sb.WriteByte(hexDigits[(u>>12)&0xf])
				sb.WriteByte(hexDigits[(u>>8)&0xf])
				sb.WriteByte(hexDigits[(u>>4)&0xf])
				sb.WriteByte(hexDigits[u&0xf])
			}
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
}
