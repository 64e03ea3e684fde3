package message

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Calendar is the calendar fact of an invitation (spec/email.md §3.6). Times
// are ISO-8601 / RFC 3339 text so the rules engine's "<op> now()" conditions
// can compare them and they survive JSON unchanged:
//
//   - a UTC date-time is "2026-03-01T14:00:00+00:00";
//   - a date-time with a TZID is local time with its numeric offset
//     ("2026-03-01T15:00:00+01:00");
//   - a floating date-time has no offset ("2026-03-01T14:00:00"; rules read
//     it as UTC);
//   - an all-day date is "2026-03-01" (rules read it as midnight UTC).
type Calendar struct {
	// Start is DTSTART; "" when absent or unreadable (null in Map).
	Start string
	// End is DTEND. Divergence: when DTEND is absent it follows RFC 5545
	// §3.6.1 instead of being null: DTSTART + DURATION, else the day after an
	// all-day DTSTART, else DTSTART itself. The reference left it null, so a
	// rule "calendar.end: <now()" never matched such invitations.
	End string
	// GuestCount is the number of ATTENDEE properties of the event.
	GuestCount int
	// Method is the VCALENDAR METHOD, lower-cased; "request" when absent or
	// empty.
	Method string
	// IsUpdate: Method is "request" and SEQUENCE > 0.
	IsUpdate bool
	// PartStat is the first attendee's PARTSTAT, lower-cased, when Method is
	// "reply"; "" otherwise (null in Map).
	PartStat string
}

// Map is the calendar as a JSON-ready fact: start, end, guest_count, method,
// is_update, partstat; absent values are nil.
func (c *Calendar) Map() map[string]any {
	if c == nil {
		return nil
	}
	return map[string]any{
		"start":       nullable(c.Start),
		"end":         nullable(c.End),
		"guest_count": c.GuestCount,
		"method":      c.Method,
		"is_update":   c.IsUpdate,
		"partstat":    nullable(c.PartStat),
	}
}

// nullable maps "" to nil.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ParseCalendar reads the first VEVENT of an iCalendar object
// (spec/email.md §3.6). It returns an error when the data holds no VCALENDAR
// or the calendar has no VEVENT. Malformed content lines are skipped; an
// unreadable DTSTART or DTEND leaves that time empty; an unknown TZID without
// a matching VTIMEZONE gives a floating time.
func ParseCalendar(data string) (*Calendar, error) {
	root, err := parseICS(data)
	if err != nil {
		return nil, err
	}
	ev := findComponent(root, "VEVENT")
	if ev == nil {
		return nil, errors.New("calendar has no VEVENT")
	}
	c := &Calendar{Method: "request"}
	if p := root.prop("METHOD"); p != nil {
		if m := strings.ToLower(strings.TrimSpace(p.value)); m != "" {
			c.Method = m
		}
	}
	attendees := ev.props("ATTENDEE")
	c.GuestCount = len(attendees)
	if c.Method == "reply" && len(attendees) > 0 {
		c.PartStat = strings.ToLower(strings.TrimSpace(attendees[0].param("PARTSTAT")))
	}
	if c.Method == "request" {
		if p := ev.prop("SEQUENCE"); p != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(p.value)); err == nil && n > 0 {
				c.IsUpdate = true
			}
		}
	}
	zones := zoneResolver{root: root}
	start, startOK := icalTimeOf(ev.prop("DTSTART"), &zones)
	if startOK {
		c.Start = start.String()
	}
	if end, ok := icalTimeOf(ev.prop("DTEND"), &zones); ok {
		c.End = end.String()
	} else if startOK {
		end := start
		if p := ev.prop("DURATION"); p != nil {
			if days, exact, ok := parseDuration(p.value); ok {
				end = start.add(days, exact)
			}
		} else if start.kind == kindDate {
			end = start.add(1, 0)
		}
		c.End = end.String()
	}
	return c, nil
}

// icsProp is one iCalendar content line.
type icsProp struct {
	name   string              // upper-cased
	params map[string][]string // names upper-cased
	value  string
}

// param returns the first value of a parameter, "" if absent.
func (p *icsProp) param(name string) string {
	if vs := p.params[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// icsComp is a component (VCALENDAR, VEVENT, VTIMEZONE, STANDARD, ...).
type icsComp struct {
	name     string
	propList []*icsProp
	children []*icsComp
}

// prop returns the first property with the name, nil if none.
func (c *icsComp) prop(name string) *icsProp {
	for _, p := range c.propList {
		if p.name == name {
			return p
		}
	}
	return nil
}

// props returns every property with the name.
func (c *icsComp) props(name string) []*icsProp {
	var out []*icsProp
	for _, p := range c.propList {
		if p.name == name {
			out = append(out, p)
		}
	}
	return out
}

// findComponent returns the first component with the name, depth-first
// (the component itself included).
func findComponent(c *icsComp, name string) *icsComp {
	if c.name == name {
		return c
	}
	for _, k := range c.children {
		if f := findComponent(k, name); f != nil {
			return f
		}
	}
	return nil
}

// Bounds on a calendar object.
const (
	maxICSLines = 20000
	maxICSDepth = 16
)

// parseICS reads the first VCALENDAR of an iCalendar stream (RFC 5545 §3.1):
// lines are unfolded, malformed content lines are skipped, a mismatched END
// closes up to the matching open component (or is ignored), and components
// still open at the end are closed.
func parseICS(data string) (*icsComp, error) {
	lines := unfoldICS(data)
	var root *icsComp
	var stack []*icsComp
	for _, line := range lines {
		p, ok := parseContentLine(line)
		if !ok {
			continue
		}
		switch p.name {
		case "BEGIN":
			name := strings.ToUpper(strings.TrimSpace(p.value))
			if root == nil && name != "VCALENDAR" {
				continue // text before the calendar
			}
			if len(stack) >= maxICSDepth {
				return nil, errors.New("calendar nesting too deep")
			}
			comp := &icsComp{name: name}
			if root == nil {
				root = comp
			} else if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.children = append(top.children, comp)
			} else {
				return root, nil // a second top-level object: only the first counts
			}
			stack = append(stack, comp)
		case "END":
			name := strings.ToUpper(strings.TrimSpace(p.value))
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].name == name {
					stack = stack[:i]
					break
				}
			}
		default:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.propList = append(top.propList, p)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no VCALENDAR")
	}
	return root, nil
}

// unfoldICS splits into lines (CRLF or LF) and joins folded continuation lines
// (a line starting with a space or tab continues the previous one, minus that
// character).
func unfoldICS(data string) []string {
	var (
		lines []string
		cur   strings.Builder
		open  bool
	)
	for raw := range strings.SplitSeq(data, "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		if (strings.HasPrefix(raw, " ") || strings.HasPrefix(raw, "\t")) && open {
			cur.WriteString(raw[1:])
			continue
		}
		if open {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if len(lines) >= maxICSLines {
			return lines
		}
		cur.WriteString(raw)
		open = true
	}
	if open {
		lines = append(lines, cur.String())
	}
	return lines
}

// parseContentLine parses "NAME;P1=a,"b";P2=c:value". ok is false for a line
// without a name or a colon.
func parseContentLine(line string) (*icsProp, bool) {
	i := strings.IndexAny(line, ";:")
	if i <= 0 {
		return nil, false
	}
	p := &icsProp{name: strings.ToUpper(strings.TrimSpace(line[:i]))}
	rest := line[i:]
	for strings.HasPrefix(rest, ";") {
		rest = rest[1:]
		eq := strings.IndexAny(rest, "=:;")
		if eq < 0 {
			return nil, false
		}
		if rest[eq] != '=' { // a parameter without a value: skip it
			rest = rest[eq:]
			continue
		}
		name := strings.ToUpper(strings.TrimSpace(rest[:eq]))
		rest = rest[eq+1:]
		for {
			var v string
			if strings.HasPrefix(rest, `"`) {
				end := strings.IndexByte(rest[1:], '"')
				if end < 0 {
					return nil, false
				}
				v, rest = rest[1:1+end], rest[2+end:]
			} else {
				end := strings.IndexAny(rest, ",;:")
				if end < 0 {
					return nil, false
				}
				v, rest = rest[:end], rest[end:]
			}
			if p.params == nil {
				p.params = map[string][]string{}
			}
			p.params[name] = append(p.params[name], v)
			if !strings.HasPrefix(rest, ",") {
				break
			}
			rest = rest[1:]
		}
	}
	if !strings.HasPrefix(rest, ":") {
		return nil, false
	}
	p.value = rest[1:]
	return p, true
}

// Kinds of iCalendar time values.
const (
	kindDate     = iota // all-day date
	kindFloating        // local time without a zone
	kindUTC             // "Z"
	kindZoned           // TZID
)

// icalTime is a DTSTART/DTEND value: its wall-clock reading (held in a UTC
// time.Time) and how to place it.
type icalTime struct {
	wall  time.Time
	kind  int
	zones *zoneResolver
	tzid  string
}

// String formats the value as described at [Calendar].
func (t icalTime) String() string {
	switch t.kind {
	case kindDate:
		return t.wall.Format("2006-01-02")
	case kindFloating:
		return t.wall.Format("2006-01-02T15:04:05")
	case kindUTC:
		return t.wall.Format(isoLayout)
	}
	loc, ok := t.zones.location(t.tzid, t.wall)
	if !ok {
		return t.wall.Format("2006-01-02T15:04:05")
	}
	w := t.wall
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc).Format(isoLayout)
}

// add adds a nominal number of days and an exact duration (RFC 5545 §3.3.6:
// days move the calendar date, so an event at 09:00 the day before a DST
// change ends at 09:00; hours, minutes and seconds are exact). The exact part
// is exact for IANA zones; for a zone known only from its VTIMEZONE it moves
// the wall clock, which is off by the shift only when it spans a transition.
func (t icalTime) add(days int, exact time.Duration) icalTime {
	t.wall = t.wall.AddDate(0, 0, days)
	if t.kind == kindDate {
		t.wall = t.wall.Add(exact).Truncate(24 * time.Hour)
		return t
	}
	if t.kind == kindZoned {
		if loc, ok := t.zones.iana(t.tzid); ok {
			w := t.wall
			at := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc).Add(exact)
			t.wall = time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), 0, time.UTC)
			return t
		}
	}
	t.wall = t.wall.Add(exact)
	return t
}

// icalDateTime matches a DATE or DATE-TIME value.
var icalDateTime = regexp.MustCompile(`(?i)^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(?:\.\d+)?(Z)?)?$`)

// icalTimeOf reads a DTSTART/DTEND property.
func icalTimeOf(p *icsProp, zones *zoneResolver) (icalTime, bool) {
	if p == nil {
		return icalTime{}, false
	}
	m := icalDateTime.FindStringSubmatch(strings.TrimSpace(p.value))
	if m == nil {
		return icalTime{}, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) {
		return icalTime{}, false
	}
	if m[4] == "" {
		return icalTime{wall: time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), kind: kindDate}, true
	}
	h, _ := strconv.Atoi(m[4])
	mi, _ := strconv.Atoi(m[5])
	s, _ := strconv.Atoi(m[6])
	if h > 23 || mi > 59 || s > 60 {
		return icalTime{}, false
	}
	s = min(s, 59)
	t := icalTime{wall: time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), kind: kindFloating, zones: zones}
	switch tzid := strings.TrimSpace(p.param("TZID")); {
	case m[7] != "":
		t.kind = kindUTC
	case tzid != "":
		if _, ok := zones.location(tzid, t.wall); ok {
			t.kind, t.tzid = kindZoned, tzid
		}
	}
	return t, true
}

// parseDuration reads an RFC 5545 DURATION ("P1D", "PT1H30M", "P2W",
// "-PT15M") as nominal days and an exact remainder.
func parseDuration(s string) (days int, exact time.Duration, ok bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	sign := 1
	switch {
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, 0, false
	}
	s = s[1:]
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 || i == len(s) {
			return 0, 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		unit := s[i]
		s = s[i+1:]
		switch {
		case unit == 'W' && !inTime:
			days += 7 * n
		case unit == 'D' && !inTime:
			days += n
		case unit == 'H' && inTime:
			exact += time.Duration(n) * time.Hour
		case unit == 'M' && inTime:
			exact += time.Duration(n) * time.Minute
		case unit == 'S' && inTime:
			exact += time.Duration(n) * time.Second
		default:
			return 0, 0, false
		}
	}
	return sign * days, time.Duration(sign) * exact, true
}
