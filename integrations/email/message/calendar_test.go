package message

import (
	"reflect"
	"strings"
	"testing"
)

// ics wraps VEVENT lines (and optional VCALENDAR-level lines before them) in a
// VCALENDAR, CRLF-separated.
func ics(calLines []string, eventLines ...string) string {
	lines := append([]string{"BEGIN:VCALENDAR", "VERSION:2.0"}, calLines...)
	lines = append(lines, "BEGIN:VEVENT")
	lines = append(lines, eventLines...)
	lines = append(lines, "END:VEVENT", "END:VCALENDAR")
	return strings.Join(lines, "\r\n") + "\r\n"
}

// invite is a message whose only attachment is a calendar part of the given
// type.
func invite(t *testing.T, contentType, data string) *Message {
	t.Helper()
	return multipart(t,
		part("Content-Type: text/plain", "You are invited."),
		part("Content-Type: "+contentType+"; name=invite.ics\r\nContent-Disposition: attachment; filename=invite.ics", data))
}

var request = ics([]string{"METHOD:REQUEST"},
	"UID:1", "DTSTART:20260301T140000Z", "DTEND:20260301T150000Z", "SUMMARY:Meeting",
	"ATTENDEE;CN=A:mailto:a@x.com", "ATTENDEE;CN=B:mailto:b@x.com", "ATTENDEE;CN=C:mailto:c@x.com")

func TestCalendarReference(t *testing.T) {
	tests := []struct {
		name string
		msg  func(t *testing.T) *Message
		want *Calendar
	}{
		{"valid request", func(t *testing.T) *Message { return invite(t, "text/calendar", request) },
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", GuestCount: 3, Method: "request"}},
		{"one attendee", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics(nil, "DTSTART:20260301T140000Z", "ATTENDEE:mailto:a@x.com"))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", GuestCount: 1, Method: "request"}},
		{"no attendee", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics(nil, "DTSTART:20260301T140000Z", "DTEND:20260301T150000Z"))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", Method: "request"}},
		{"only a pdf", func(t *testing.T) *Message {
			return multipart(t, part("Content-Type: application/pdf; name=a.pdf", "%PDF"))
		}, nil},
		{"no attachments", func(t *testing.T) *Message { return build(t, "hello", "From: a@b.example") }, nil},
		{"only a VTODO", func(t *testing.T) *Message {
			return invite(t, "text/calendar", "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nDTSTART:20260301T140000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
		}, nil},
		{"garbage", func(t *testing.T) *Message { return invite(t, "text/calendar", "this is not a calendar\r\n\x00\xff") }, nil},
		// Divergence: the reference left end null here.
		{"all-day without DTEND", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics(nil, "DTSTART;VALUE=DATE:20260301"))
		}, &Calendar{Start: "2026-03-01", End: "2026-03-02", Method: "request"}},
		{"application/ics", func(t *testing.T) *Message { return invite(t, "application/ics", request) },
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", GuestCount: 3, Method: "request"}},
		{"default method", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics(nil, "DTSTART:20260301T140000Z", "DTEND:20260301T150000Z"))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", Method: "request"}},
		{"cancel with sequence 1", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics([]string{"METHOD:CANCEL"}, "SEQUENCE:1", "DTSTART:20260301T140000Z", "DTEND:20260301T150000Z"))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", Method: "cancel"}},
		{"request with sequence 2", func(t *testing.T) *Message {
			return invite(t, "text/calendar", ics([]string{"METHOD:REQUEST"}, "SEQUENCE:2", "DTSTART:20260301T140000Z", "DTEND:20260301T150000Z"))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", Method: "request", IsUpdate: true}},
		{"pdf listed before the calendar", func(t *testing.T) *Message {
			return multipart(t,
				part("Content-Type: application/pdf; name=a.pdf", "%PDF"),
				part("Content-Type: text/calendar; name=invite.ics", request))
		}, &Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T15:00:00+00:00", GuestCount: 3, Method: "request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg(t)
			if !reflect.DeepEqual(m.Calendar, tt.want) {
				t.Errorf("Calendar = %+v, want %+v", m.Calendar, tt.want)
			}
			f := m.Facts(nil)
			if f["is_calendar_event"] != (tt.want != nil) {
				t.Errorf("is_calendar_event = %v", f["is_calendar_event"])
			}
			if _, has := f["calendar"]; has != (tt.want != nil) {
				t.Errorf("calendar fact present = %v", has)
			}
		})
	}
}

func TestCalendarReplyPartstat(t *testing.T) {
	for _, ps := range []string{"ACCEPTED", "DECLINED", "TENTATIVE"} {
		c, err := ParseCalendar(ics([]string{"METHOD:REPLY"}, "DTSTART:20260301T140000Z", "ATTENDEE;PARTSTAT="+ps+";CN=Me:mailto:me@x.com"))
		if err != nil || c.Method != "reply" || c.PartStat != strings.ToLower(ps) || c.IsUpdate {
			t.Errorf("%s: %+v %v", ps, c, err)
		}
	}
	// No attendee, no parameter, or another method: null.
	for _, data := range []string{
		ics([]string{"METHOD:REPLY"}, "DTSTART:20260301T140000Z"),
		ics([]string{"METHOD:REPLY"}, "ATTENDEE:mailto:me@x.com"),
		ics([]string{"METHOD:REQUEST"}, "ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@x.com"),
	} {
		c, err := ParseCalendar(data)
		if err != nil || c.PartStat != "" || c.Map()["partstat"] != nil {
			t.Errorf("partstat = %q (%v)", c.PartStat, err)
		}
	}
}

func TestCalendarTimes(t *testing.T) {
	berlin := []string{
		"BEGIN:VTIMEZONE", "TZID:Custom Berlin",
		"BEGIN:STANDARD", "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "END:STANDARD",
		"BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3", "END:DAYLIGHT",
		"END:VTIMEZONE",
	}
	tests := []struct {
		name       string
		cal        []string
		event      []string
		start, end string
	}{
		{"floating", nil, []string{"DTSTART:20260301T140000", "DTEND:20260301T150000"}, "2026-03-01T14:00:00", "2026-03-01T15:00:00"},
		{"IANA winter", nil, []string{"DTSTART;TZID=America/New_York:20260115T090000", "DTEND;TZID=America/New_York:20260115T100000"}, "2026-01-15T09:00:00-05:00", "2026-01-15T10:00:00-05:00"},
		{"IANA summer", nil, []string{"DTSTART;TZID=America/New_York:20260715T090000"}, "2026-07-15T09:00:00-04:00", "2026-07-15T09:00:00-04:00"},
		{"quoted TZID", nil, []string{`DTSTART;TZID="Europe/Berlin":20260115T090000`}, "2026-01-15T09:00:00+01:00", "2026-01-15T09:00:00+01:00"},
		{"mozilla TZID", nil, []string{"DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20260715T090000"}, "2026-07-15T09:00:00+02:00", "2026-07-15T09:00:00+02:00"},
		{"VTIMEZONE winter", berlin, []string{"DTSTART;TZID=Custom Berlin:20260115T090000"}, "2026-01-15T09:00:00+01:00", "2026-01-15T09:00:00+01:00"},
		{"VTIMEZONE summer", berlin, []string{"DTSTART;TZID=Custom Berlin:20260715T090000"}, "2026-07-15T09:00:00+02:00", "2026-07-15T09:00:00+02:00"},
		{"VTIMEZONE just after the spring change", berlin, []string{"DTSTART;TZID=Custom Berlin:20260329T030000"}, "2026-03-29T03:00:00+02:00", "2026-03-29T03:00:00+02:00"},
		{"VTIMEZONE just before the spring change", berlin, []string{"DTSTART;TZID=Custom Berlin:20260329T015900"}, "2026-03-29T01:59:00+01:00", "2026-03-29T01:59:00+01:00"},
		{"VTIMEZONE without rules", []string{"BEGIN:VTIMEZONE", "TZID:Fixed", "BEGIN:STANDARD", "DTSTART:19700101T000000", "TZOFFSETFROM:+0530", "TZOFFSETTO:+0530", "END:STANDARD", "END:VTIMEZONE"},
			[]string{"DTSTART;TZID=Fixed:20260115T090000"}, "2026-01-15T09:00:00+05:30", "2026-01-15T09:00:00+05:30"},
		{"unknown TZID is floating", nil, []string{"DTSTART;TZID=Nowhere Standard Time:20260115T090000"}, "2026-01-15T09:00:00", "2026-01-15T09:00:00"},
		{"Z wins over TZID", nil, []string{"DTSTART;TZID=Europe/Berlin:20260115T090000Z"}, "2026-01-15T09:00:00+00:00", "2026-01-15T09:00:00+00:00"},
		{"date with DTEND", nil, []string{"DTSTART;VALUE=DATE:20260301", "DTEND;VALUE=DATE:20260303"}, "2026-03-01", "2026-03-03"},
		{"date without VALUE", nil, []string{"DTSTART:20260301"}, "2026-03-01", "2026-03-02"},
		{"duration", nil, []string{"DTSTART:20260301T140000Z", "DURATION:PT1H30M"}, "2026-03-01T14:00:00+00:00", "2026-03-01T15:30:00+00:00"},
		{"duration in days over DST", nil, []string{"DTSTART;TZID=Europe/Berlin:20260328T090000", "DURATION:P1D"}, "2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00"},
		{"duration in hours over DST", nil, []string{"DTSTART;TZID=Europe/Berlin:20260329T010000", "DURATION:PT2H"}, "2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00"},
		{"duration of an all-day event", nil, []string{"DTSTART;VALUE=DATE:20260301", "DURATION:P2W"}, "2026-03-01", "2026-03-15"},
		{"bad duration keeps start", nil, []string{"DTSTART:20260301T140000Z", "DURATION:soon"}, "2026-03-01T14:00:00+00:00", "2026-03-01T14:00:00+00:00"},
		{"unreadable DTSTART", nil, []string{"DTSTART:tomorrow", "DTEND:20260301T150000Z"}, "", "2026-03-01T15:00:00+00:00"},
		{"invalid date", nil, []string{"DTSTART:20260230T140000Z"}, "", ""},
		{"no DTSTART", nil, []string{"SUMMARY:x"}, "", ""},
		{"lower-case z and t", nil, []string{"DTSTART:20260301t140000z"}, "2026-03-01T14:00:00+00:00", "2026-03-01T14:00:00+00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCalendar(ics(tt.cal, tt.event...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Start != tt.start || c.End != tt.end {
				t.Errorf("start, end = %q, %q; want %q, %q", c.Start, c.End, tt.start, tt.end)
			}
			m := c.Map()
			if (tt.start == "") != (m["start"] == nil) || (tt.end == "") != (m["end"] == nil) {
				t.Errorf("Map = %v", m)
			}
		})
	}
}

func TestCalendarSyntax(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		want   *Calendar
		hasErr bool
	}{
		{"folded lines and quoted params", "BEGIN:VCALENDAR\r\nMETHOD:REQ\r\n UEST\r\nBEGIN:VEVENT\r\nDTSTART:2026030\r\n\t1T140000Z\r\nATTENDEE;CN=\"Doe, Jane: PhD\";PARTSTAT=ACCEPTED:mailto:j@x.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", GuestCount: 1, Method: "request"}, false},
		{"LF line ends and text before", "junk\nBEGIN:VCALENDAR\nMETHOD:Publish\nBEGIN:VEVENT\nDTSTART:20260301T140000Z\nEND:VEVENT\nEND:VCALENDAR\n",
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", Method: "publish"}, false},
		{"unterminated components", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260301T140000Z\r\n",
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", Method: "request"}, false},
		{"malformed lines skipped", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nno colon here\r\n;PARAM=x:y\r\nATTENDEE;CN=\"unterminated:mailto:x@y\r\nATTENDEE;RSVP:mailto:a@b\r\nATTENDEE:mailto:ok@b\r\nDTSTART:20260301T140000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", GuestCount: 2, Method: "request"}, false},
		{"empty METHOD is request", ics([]string{"METHOD:"}, "DTSTART:20260301T140000Z"),
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", Method: "request"}, false},
		{"bad SEQUENCE", ics([]string{"METHOD:REQUEST"}, "SEQUENCE:two", "DTSTART:20260301T140000Z"),
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", Method: "request"}, false},
		{"first VEVENT depth-first", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260301T140000Z\r\nATTENDEE:mailto:a@b\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20270301T140000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
			&Calendar{Start: "2026-03-01T14:00:00+00:00", End: "2026-03-01T14:00:00+00:00", GuestCount: 1, Method: "request"}, false},
		{"nothing", "", nil, true},
		{"no VEVENT", "BEGIN:VCALENDAR\r\nEND:VCALENDAR", nil, true},
		{"too deep", strings.Repeat("BEGIN:VCALENDAR\r\n", 100), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCalendar(tt.data)
			if (err != nil) != tt.hasErr || !reflect.DeepEqual(c, tt.want) {
				t.Errorf("ParseCalendar = %+v, %v; want %+v", c, err, tt.want)
			}
		})
	}
}

func TestCalendarParts(t *testing.T) {
	// Divergence: an inline text/calendar alternative counts (Outlook), and a
	// calendar part that does not parse does not hide a later one.
	m := build(t, "--B\r\nContent-Type: text/plain\r\n\r\ninvited\r\n--B\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n"+request+"\r\n--B--\r\n",
		"From: a@b.example", "Content-Type: multipart/alternative; boundary=B")
	if m.Calendar == nil || m.Calendar.GuestCount != 3 || m.HasAttachments() || len(m.Attachments) != 0 {
		t.Errorf("inline calendar: %+v, attachments %+v", m.Calendar, m.Attachments)
	}

	m = multipart(t,
		part("Content-Type: text/calendar; name=bad.ics", "garbage"),
		part("Content-Type: application/ics; name=good.ics\r\nContent-Transfer-Encoding: base64", "QkVHSU46VkNBTEVOREFSDQpCRUdJTjpWRVZFTlQNCkRUU1RBUlQ6MjAyNjAzMDFUMTQwMDAwWg0KRU5EOlZFVkVOVA0KRU5EOlZDQUxFTkRBUg0K"))
	if m.Calendar == nil || m.Calendar.Start != "2026-03-01T14:00:00+00:00" || len(m.Defects) != 0 {
		t.Errorf("second calendar part: %+v, defects %q", m.Calendar, m.Defects)
	}

	m = multipart(t, part("Content-Type: text/calendar; name=bad.ics", "garbage"))
	if m.Calendar != nil || len(m.Defects) != 1 || !strings.HasPrefix(m.Defects[0], "Failed to parse calendar attachment") {
		t.Errorf("bad calendar: %+v, defects %q", m.Calendar, m.Defects)
	}

	// A calendar in another charset is converted.
	m = multipart(t, part("Content-Type: text/calendar; charset=iso-8859-1; name=a.ics",
		ics([]string{"METHOD:REQUEST"}, "DTSTART:20260301T140000Z", "ATTENDEE;CN=J\xf6rg:mailto:j@x.de")))
	if m.Calendar == nil || m.Calendar.GuestCount != 1 {
		t.Errorf("latin-1 calendar: %+v", m.Calendar)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in    string
		days  int
		exact string
		ok    bool
	}{
		{"P1D", 1, "0s", true},
		{"P2W", 14, "0s", true},
		{"PT1H30M", 0, "1h30m0s", true},
		{"P1DT12H", 1, "12h0m0s", true},
		{"-PT15M", 0, "-15m0s", true},
		{"+PT10S", 0, "10s", true},
		{"pt1h", 0, "1h0m0s", true},
		{"P", 0, "0s", false},
		{"PT", 0, "0s", false},
		{"P1H", 0, "0s", false},
		{"PT1D", 0, "0s", false},
		{"1H", 0, "0s", false},
		{"P9999999D", 0, "0s", false},
	}
	for _, tt := range tests {
		d, e, ok := parseDuration(tt.in)
		if ok != tt.ok || (ok && (d != tt.days || e.String() != tt.exact)) {
			t.Errorf("parseDuration(%q) = %d, %s, %v", tt.in, d, e, ok)
		}
	}
}
