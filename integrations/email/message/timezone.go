package message

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// zoneResolver places TZID-qualified times of one calendar object. An IANA
// name ("Europe/Berlin") is looked up in the system's zone database;
// anything else (Outlook's "W. Europe Standard Time", custom ids) is read
// from the calendar's own VTIMEZONE definition. Look-ups are cached per
// calendar.
type zoneResolver struct {
	root  *icsComp
	cache map[string]*time.Location // nil value: not an IANA zone here
}

// location returns the zone in force at a wall-clock time of tzid.
func (z *zoneResolver) location(tzid string, wall time.Time) (*time.Location, bool) {
	if z == nil {
		return nil, false
	}
	if loc, ok := z.iana(tzid); ok {
		return loc, true
	}
	if off, ok := z.vtimezoneOffset(tzid, wall); ok {
		return time.FixedZone("", off), true
	}
	return nil, false
}

// iana looks tzid up in the zone database. Old Mozilla clients prefix the
// name ("/mozilla.org/20050126_1/Europe/Berlin"), so the trailing
// "Area/City" and "City" parts are tried too. "Local" (the machine's zone)
// and "" are not accepted: a sender's TZID says nothing about our machine.
func (z *zoneResolver) iana(tzid string) (*time.Location, bool) {
	if z == nil || tzid == "" || len(tzid) > 128 {
		return nil, false
	}
	if loc, seen := z.cache[tzid]; seen {
		return loc, loc != nil
	}
	var found *time.Location
	candidates := []string{tzid}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	if len(parts) > 2 {
		candidates = append(candidates, strings.Join(parts[len(parts)-2:], "/"))
	}
	for _, c := range candidates {
		if c == "" || strings.EqualFold(c, "Local") {
			continue
		}
		if loc, err := time.LoadLocation(c); err == nil {
			found = loc
			break
		}
	}
	if z.cache == nil {
		z.cache = map[string]*time.Location{}
	}
	z.cache[tzid] = found
	return found, found != nil
}

// observance is a STANDARD or DAYLIGHT part of a VTIMEZONE.
type observance struct {
	start    time.Time // DTSTART, local wall clock
	from, to int       // TZOFFSETFROM, TZOFFSETTO in seconds
	rule     *yearlyRule
	rdates   []time.Time
}

// yearlyRule is the one RRULE shape VTIMEZONEs use: FREQ=YEARLY with BYMONTH
// and BYDAY ("-1SU", "2SU") or BYDAY plus a BYMONTHDAY range, maybe UNTIL or
// COUNT.
type yearlyRule struct {
	month     time.Month // 0: the month of DTSTART
	weekday   time.Weekday
	nth       int // 0: no BYDAY ordinal
	hasDay    bool
	monthDays []int
	until     time.Time
	lastYear  int // from COUNT; 0: none
}

// vtimezoneOffset finds the VTIMEZONE with the TZID and returns the UTC offset
// of the observance in force at wall: the one with the latest onset at or
// before it; before every onset, the earliest observance's TZOFFSETFROM.
func (z *zoneResolver) vtimezoneOffset(tzid string, wall time.Time) (int, bool) {
	if z.root == nil {
		return 0, false
	}
	var vtz *icsComp
	for _, c := range z.root.children {
		if c.name == "VTIMEZONE" {
			if p := c.prop("TZID"); p != nil && strings.TrimSpace(p.value) == tzid {
				vtz = c
				break
			}
		}
	}
	if vtz == nil {
		return 0, false
	}
	var (
		best, earliest         time.Time
		bestOff, earliestFrom  int
		haveBest, haveEarliest bool
	)
	for _, c := range vtz.children {
		if c.name != "STANDARD" && c.name != "DAYLIGHT" {
			continue
		}
		o, ok := readObservance(c)
		if !ok {
			continue
		}
		if !haveEarliest || o.start.Before(earliest) {
			earliest, earliestFrom, haveEarliest = o.start, o.from, true
		}
		if on, ok := o.latestOnset(wall); ok && (!haveBest || on.After(best)) {
			best, bestOff, haveBest = on, o.to, true
		}
	}
	switch {
	case haveBest:
		return bestOff, true
	case haveEarliest:
		return earliestFrom, true
	}
	return 0, false
}

// readObservance reads DTSTART, the offsets, RRULE and RDATE.
func readObservance(c *icsComp) (observance, bool) {
	var o observance
	start, ok := icalTimeOf(c.prop("DTSTART"), nil)
	if !ok {
		return o, false
	}
	o.start = start.wall
	from, ok1 := utcOffset(c.prop("TZOFFSETFROM"))
	to, ok2 := utcOffset(c.prop("TZOFFSETTO"))
	if !ok2 {
		return o, false
	}
	if !ok1 {
		from = to
	}
	o.from, o.to = from, to
	if p := c.prop("RRULE"); p != nil {
		o.rule = parseYearlyRule(p.value, o.start)
	}
	for _, p := range c.props("RDATE") {
		for v := range strings.SplitSeq(p.value, ",") {
			if t, ok := icalTimeOf(&icsProp{value: v}, nil); ok {
				o.rdates = append(o.rdates, t.wall)
			}
		}
	}
	return o, true
}

// offsetRE matches a UTC-OFFSET value (+0100, -0500, +053000).
var offsetRE = regexp.MustCompile(`^([+-])(\d{2})(\d{2})(\d{2})?$`)

// utcOffset reads a UTC-OFFSET property in seconds.
func utcOffset(p *icsProp) (int, bool) {
	if p == nil {
		return 0, false
	}
	m := offsetRE.FindStringSubmatch(strings.TrimSpace(p.value))
	if m == nil {
		return 0, false
	}
	h, _ := strconv.Atoi(m[2])
	mi, _ := strconv.Atoi(m[3])
	s := 0
	if m[4] != "" {
		s, _ = strconv.Atoi(m[4])
	}
	if h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	off := h*3600 + mi*60 + s
	if m[1] == "-" {
		off = -off
	}
	return off, true
}

// weekdays maps RFC 5545 day codes.
var weekdays = map[string]time.Weekday{
	"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday,
}

// bydayRE matches one BYDAY entry: an optional ordinal and a day code.
var bydayRE = regexp.MustCompile(`^([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$`)

// parseYearlyRule reads an RRULE of the shape described at yearlyRule; nil for
// any other shape (the observance then counts from DTSTART and RDATEs only).
func parseYearlyRule(v string, start time.Time) *yearlyRule {
	r := &yearlyRule{}
	yearly := false
	for part := range strings.SplitSeq(strings.ToUpper(strings.TrimSpace(v)), ";") {
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case "FREQ":
			yearly = val == "YEARLY"
		case "INTERVAL":
			if val != "1" {
				return nil
			}
		case "BYMONTH":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 12 {
				return nil
			}
			r.month = time.Month(n)
		case "BYDAY":
			m := bydayRE.FindStringSubmatch(strings.Split(val, ",")[0])
			if m == nil {
				return nil
			}
			r.weekday, r.hasDay = weekdays[m[2]], true
			if m[1] != "" {
				r.nth, _ = strconv.Atoi(m[1])
				if r.nth == 0 || r.nth > 5 || r.nth < -5 {
					return nil
				}
			}
		case "BYMONTHDAY":
			for d := range strings.SplitSeq(val, ",") {
				n, err := strconv.Atoi(d)
				if err != nil || n < 1 || n > 31 {
					return nil
				}
				r.monthDays = append(r.monthDays, n)
			}
		case "UNTIL":
			if t, ok := icalTimeOf(&icsProp{value: val}, nil); ok {
				r.until = t.wall
			}
		case "COUNT":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return nil
			}
			r.lastYear = start.Year() + n - 1
		}
	}
	if !yearly {
		return nil
	}
	return r
}

// occurrence is the rule's onset in a year, at DTSTART's time of day.
func (r *yearlyRule) occurrence(year int, start time.Time) (time.Time, bool) {
	month := r.month
	if month == 0 {
		month = start.Month()
	}
	at := func(day int) time.Time {
		return time.Date(year, month, day, start.Hour(), start.Minute(), start.Second(), 0, time.UTC)
	}
	n := daysIn(month, year)
	switch {
	case r.hasDay && r.nth > 0:
		first := at(1)
		day := 1 + (int(r.weekday)-int(first.Weekday())+7)%7 + 7*(r.nth-1)
		if day > n {
			return time.Time{}, false
		}
		return at(day), true
	case r.hasDay && r.nth < 0:
		last := at(n)
		day := n - (int(last.Weekday())-int(r.weekday)+7)%7 + 7*(r.nth+1)
		if day < 1 {
			return time.Time{}, false
		}
		return at(day), true
	case r.hasDay:
		for _, d := range r.monthDays {
			if d <= n && at(d).Weekday() == r.weekday {
				return at(d), true
			}
		}
		if len(r.monthDays) == 0 {
			first := at(1)
			return at(1 + (int(r.weekday)-int(first.Weekday())+7)%7), true
		}
		return time.Time{}, false
	case len(r.monthDays) > 0:
		if r.monthDays[0] > n {
			return time.Time{}, false
		}
		return at(r.monthDays[0]), true
	}
	if start.Day() > n {
		return time.Time{}, false
	}
	return at(start.Day()), true
}

// latestOnset is the observance's last onset at or before wall.
func (o observance) latestOnset(wall time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(t time.Time) {
		if !t.After(wall) && (!found || t.After(best)) {
			best, found = t, true
		}
	}
	consider(o.start)
	for _, t := range o.rdates {
		consider(t)
	}
	if r := o.rule; r != nil {
		for _, y := range []int{wall.Year(), wall.Year() - 1} {
			if r.lastYear != 0 && y > r.lastYear {
				continue
			}
			t, ok := r.occurrence(y, o.start)
			if !ok || t.Before(o.start) || (!r.until.IsZero() && t.After(r.until)) {
				continue
			}
			consider(t)
		}
	}
	return best, found
}
