package msg

import (
	"encoding/json"
	"strings"
	"testing"
)

// The vectors of spec/core.md §13: the reference fingerprint is the first 8 hex
// characters of ours.
func TestFingerprintReferenceVectors(t *testing.T) {
	cases := []struct {
		payload string
		canon   string
		fp      string
	}{
		{`{"type":"test"}`, `{"type":"test"}`, "ec3ac967"},
		{`{"type":"email.inbox.check","integration":"email.personal"}`, `{"integration":"email.personal","type":"email.inbox.check"}`, "9fe3af67"},
		{`{"type":"email.inbox.check","integration":"email.personal","platform":"inbox"}`, `{"integration":"email.personal","platform":"inbox","type":"email.inbox.check"}`, "1d6a5727"},
		{`{"type":"script.run","script_name":"research_tos","inputs":{"domain":"example.com"}}`, `{"inputs":{"domain":"example.com"},"script_name":"research_tos","type":"script.run"}`, "66aef38d"},
		{`{"type":"x","n":1.0,"u":"é","l":[1,2],"b":true,"none":null}`, `{"b":true,"l":[1,2],"n":1.0,"none":null,"type":"x","u":"\u00e9"}`, "73245e0c"},
		{`{"type":"t","s":"<a&b>/\"q\"\n\t😀"}`, `{"s":"<a&b>/\"q\"\n\t\ud83d\ude00","type":"t"}`, "b568e00e"},
		{`{"type":"t","f":[0.1,1e16,1e-7,2.5,100.0,-0.0,3]}`, `{"f":[0.1,1e+16,1e-07,2.5,100.0,-0.0,3],"type":"t"}`, "fcee453d"},
		{`{"b":{"z":1,"a":2},"a":[{"y":1,"x":2}],"type":"t"}`, `{"a":[{"x":2,"y":1}],"b":{"a":2,"z":1},"type":"t"}`, "1c7f98c1"},
	}
	for _, c := range cases {
		dec := json.NewDecoder(strings.NewReader(c.payload))
		dec.UseNumber()
		var p map[string]any
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		got, err := CanonicalJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.canon {
			t.Errorf("canonical(%s) = %s, want %s", c.payload, got, c.canon)
		}
		fp, err := Fingerprint(p)
		if err != nil {
			t.Fatal(err)
		}
		if fp[:8] != c.fp || len(fp) != 16 {
			t.Errorf("fingerprint(%s) = %s, want prefix %s", c.payload, fp, c.fp)
		}
	}
}

func TestCanonicalFloatsFromGo(t *testing.T) {
	cases := map[float64]string{
		1: "1.0", 0.1: "0.1", 1e16: "1e+16", 1e-7: "1e-07", 2.5: "2.5", 100: "100.0",
		1e-4: "0.0001", 1e-5: "1e-05", 123456789012345678: "1.2345678901234568e+17",
		1.5e300: "1.5e+300", 9999999999999998: "9999999999999998.0", -3.25: "-3.25",
	}
	for f, want := range cases {
		got, err := CanonicalJSON(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%v: got %s want %s", f, got, want)
		}
	}
}

func TestFingerprintKeyOrderAndValues(t *testing.T) {
	a, _ := Fingerprint(map[string]any{"type": "t", "a": 1, "b": "x"})
	b, _ := Fingerprint(map[string]any{"b": "x", "a": 1, "type": "t"})
	c, _ := Fingerprint(map[string]any{"b": "y", "a": 1, "type": "t"})
	if a != b || a == c {
		t.Fatalf("a=%s b=%s c=%s", a, b, c)
	}
}

func FuzzCanonicalJSON(f *testing.F) {
	f.Add(`{"type":"t","s":"<a&b>/\"q\"\n\t😀"}`)
	f.Add(`{"f":[0.1,1e16,1e-7,-0.0]}`)
	f.Fuzz(func(t *testing.T, s string) {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		out, err := CanonicalJSON(v)
		if err != nil {
			return
		}
		// The canonical form is valid JSON and canonicalises to itself.
		dec2 := json.NewDecoder(strings.NewReader(string(out)))
		dec2.UseNumber()
		var back any
		if err := dec2.Decode(&back); err != nil {
			t.Fatalf("canonical output %q is not JSON: %v", out, err)
		}
		again, err := CanonicalJSON(back)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q vs %q (%v)", out, again, err)
		}
	})
}
