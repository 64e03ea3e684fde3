package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem that prevents a configuration from loading. It names where
// the value was written (File, 1-based Line; 0 when unknown), the dotted key
// (e.g. integrations[0].platforms.inbox.automations[2].then) and what is wrong and
// allowed. Msg never contains a secret value.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats as "file:line: key: message", leaving out the parts that are unknown.
func (e *Error) Error() string {
	return formatLocated(e.File, e.Line, e.Key, e.Msg)
}

// Errors is every problem found in one load, sorted by file and line. Load and Parse
// return it as their error; errors.As reaches both Errors and each *Error.
type Errors []*Error

// Error joins the messages, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each *Error to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// LoadError is the error Load and Parse return when the configuration does not
// load: every error, with the warnings and notices found in the same pass. They
// belong together because a warning often explains an error: a misspelt key
// (imap_sever: unknown key, did you mean imap_server?) is a warning, and the
// key it should have been (imap_server: required) is the error. errors.As
// reaches Errors and each *Error through it. No text in it contains a secret
// value.
type LoadError struct {
	Errors   Errors
	Warnings []Warning
	Notices  []string
}

// Error lists the errors, one per line, then the warnings, each prefixed
// "warning: ".
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.Errors.Error())
	for _, w := range e.Warnings {
		b.WriteString("\nwarning: " + w.String())
	}
	return b.String()
}

// Unwrap returns the Errors.
func (e *LoadError) Unwrap() error { return e.Errors }

// asLoadError gives every failure of Load and Parse the same type: an Errors
// becomes a *LoadError without warnings; a *LoadError is returned as it is.
func asLoadError(err error) error {
	if es, ok := err.(Errors); ok {
		return &LoadError{Errors: es}
	}
	return err
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return es[i].File < es[j].File
		}
		return es[i].Line < es[j].Line
	})
	return es
}

// String formats the warning like an Error: "file:line: key: message".
func (w Warning) String() string {
	return formatLocated(w.File, w.Line, w.Key, w.Message)
}

func formatLocated(file string, line int, key, msg string) string {
	var b strings.Builder
	switch {
	case file != "" && line > 0:
		fmt.Fprintf(&b, "%s:%d: ", file, line)
	case file != "":
		b.WriteString(file + ": ")
	case line > 0:
		fmt.Fprintf(&b, "line %d: ", line)
	}
	if key != "" {
		b.WriteString(key + ": ")
	}
	b.WriteString(msg)
	return b.String()
}

// pyList renders names like Python's list repr (['a', 'b']), as the reference's
// messages do.
func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// quoteShort quotes a user-written text for a message, shortened when long.
func quoteShort(s string) string {
	const max = 60
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return strconv.Quote(s)
}

// closest returns the allowed name nearest to key when it is close enough to be a
// likely typo, else "".
func closest(key string, allowed []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, a := range allowed {
		if d := editDistance(lk, strings.ToLower(a)); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" && bestD < len([]rune(key)) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 99
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
