package message

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Where Message.Date came from.
const (
	// DateReceived: the top-most Received header (the user's own server's
	// clock, which the sender cannot set).
	DateReceived = "received"
	// DateHeader: the Date header (set by the sender).
	DateHeader = "date"
	// DateNone: neither could be read; Date is [FallbackDate]().
	DateNone = "none"
)

// FallbackDate is the reference's date for a message without a readable date:
// 1900-01-01 00:00:00 UTC. A caller holding the IMAP INTERNALDATE may prefer
// that when Message.DateSource is DateNone.
func FallbackDate() time.Time { return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }

// receivedDate implements spec/email.md §3.2: the date after the last ";" of
// the first Received header, else the Date header, else FallbackDate. The
// offset written in the header is kept. A Received date that does not parse is
// reported through defect.
func receivedDate(h Header, defect func(string)) (time.Time, string) {
	if rcv := h.Values("Received"); len(rcv) > 0 {
		v := rcv[0]
		if i := strings.LastIndexByte(v, ';'); i >= 0 {
			if text := strings.TrimSpace(v[i+1:]); text != "" {
				if t, ok := parseDate(text); ok {
					return t, DateReceived
				}
				defect("Failed to parse Received header date: " + cleanHeader(text))
			}
		}
	}
	if t, ok := parseDate(h.Get("Date")); ok {
		return t, DateHeader
	}
	return FallbackDate(), DateNone
}

// dateDMY is the RFC 5322 date-time, read leniently the way Python's
// email.utils.parsedate_tz does: an optional weekday of any spelling (not
// checked against the date), day, month name (three letters or more), two- to
// four-digit year, hours:minutes[:seconds[.fraction]], and an optional zone
// (numeric, with or without a colon, or a name). Comments are removed first.
var dateDMY = regexp.MustCompile(`(?i)^(?:[a-z]+\.?\s*,?\s*)?(\d{1,2})(?:\s*-\s*|\s+)([a-z]{3})[a-z]*\.?(?:\s*-\s*|\s+)(\d{2,4})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?\s*(?:([+-]\d{2}:?\d{2})|([a-z]{1,5})\b)?`)

// dateAsctime is the asctime form some old software writes:
// "Tue Feb 15 10:30:00 2025 [zone]".
var dateAsctime = regexp.MustCompile(`(?i)^(?:[a-z]+\s*,?\s+)?([a-z]{3})[a-z]*\s+(\d{1,2})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s+(\d{4})\s*(?:([+-]\d{2}:?\d{2})|([a-z]{1,5})\b)?`)

// commentRE matches one innermost RFC 5322 comment.
var commentRE = regexp.MustCompile(`\([^()]*\)`)

// zoneNames are the RFC 5322 §4.3 obsolete zone names (and UTC); any other
// name, like "-0000", means "no zone information" and is read as UTC.
var zoneNames = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}

// months maps three-letter English month names.
var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// parseDate parses an RFC 2822 date leniently (see dateDMY). Out-of-range
// fields (31 February, hour 25, a zone beyond ±23:59) fail; a leap second is
// read as :59.
func parseDate(s string) (time.Time, bool) {
	s = cleanHeader(s)
	for i := 0; i < 4 && strings.Contains(s, "("); i++ { // nested comments, inside out
		s = commentRE.ReplaceAllString(s, " ")
	}
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 200 {
		return time.Time{}, false
	}
	var day, mon, year, hh, mm, ss, num, name string
	if m := dateDMY.FindStringSubmatch(s); m != nil {
		day, mon, year, hh, mm, ss, num, name = m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
	} else if m := dateAsctime.FindStringSubmatch(s); m != nil {
		mon, day, hh, mm, ss, year, num, name = m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]
	} else {
		return time.Time{}, false
	}
	month, ok := months[strings.ToLower(mon)]
	if !ok {
		return time.Time{}, false
	}
	d, _ := strconv.Atoi(day)
	y, _ := strconv.Atoi(year)
	h, _ := strconv.Atoi(hh)
	mi, _ := strconv.Atoi(mm)
	se := 0
	if ss != "" {
		se, _ = strconv.Atoi(ss)
	}
	switch {
	case len(year) == 2 && y > 68:
		y += 1900
	case len(year) == 2:
		y += 2000
	case len(year) == 3:
		y += 1900
	}
	if se == 60 || se == 61 {
		se = 59
	}
	if d < 1 || d > daysIn(month, y) || h > 23 || mi > 59 || se > 59 {
		return time.Time{}, false
	}
	off := 0
	switch {
	case num != "":
		n := strings.ReplaceAll(num, ":", "")
		oh, _ := strconv.Atoi(n[1:3])
		om, _ := strconv.Atoi(n[3:5])
		if oh > 23 || om > 59 {
			return time.Time{}, false
		}
		off = oh*3600 + om*60
		if n[0] == '-' {
			off = -off
		}
	case name != "":
		off = zoneNames[strings.ToUpper(name)] * 3600
	}
	return time.Date(y, month, d, h, mi, se, 0, time.FixedZone("", off)), true
}

// daysIn is the number of days of a month.
func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// isoLayout is Python's datetime.isoformat() for an aware value without
// microseconds: RFC 3339 with a numeric offset, "+00:00" for UTC (not "Z"),
// as the reference's notes hold it.
const isoLayout = "2006-01-02T15:04:05-07:00"

// formatISO formats t as isoLayout in its own offset.
func formatISO(t time.Time) string { return t.Format(isoLayout) }
