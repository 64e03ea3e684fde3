package manifest

import "testing"

func TestRegistry(t *testing.T) {
	a := &Manifest{Type: "email", Platforms: []Platform{{Name: "inbox"}, {Name: "sent", EntryTask: "scan"}},
		Services: []Service{{Name: "s1"}}}
	b := &Manifest{Type: "gemini"}
	r, err := NewRegistry(b, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Types(); len(got) != 2 || got[0] != "email" || got[1] != "gemini" {
		t.Fatalf("types %v", got)
	}
	m, ok := r.Get("email")
	if !ok || m != a {
		t.Fatal("get")
	}
	if _, ok := r.Get("github"); ok {
		t.Fatal("unknown type found")
	}
	p, ok := m.Platform("inbox")
	if !ok || p.EntryTaskType("email") != "email.inbox.check" {
		t.Fatalf("entry %v", p)
	}
	p, _ = m.Platform("sent")
	if p.EntryTaskType("email") != "email.sent.scan" {
		t.Fatal(p.EntryTaskType("email"))
	}
	if _, ok := m.Service("s1"); !ok {
		t.Fatal("service")
	}
	if names := m.PlatformNames(); len(names) != 2 || names[1] != "sent" {
		t.Fatal(names)
	}
	if _, err := NewRegistry(a, &Manifest{Type: "email"}); err == nil {
		t.Fatal("duplicate type accepted")
	}
	if _, err := NewRegistry(&Manifest{}); err == nil {
		t.Fatal("empty type accepted")
	}
	var nilReg *Registry
	if _, ok := nilReg.Get("x"); ok || nilReg.Types() != nil {
		t.Fatal("nil registry")
	}
}

// Undeclared tiers fail closed: the zero Tier is Irreversible.
func TestTierZeroValueIsIrreversible(t *testing.T) {
	var a Action
	if a.Tier != Irreversible || a.Tier.String() != "irreversible" || Reversible.String() != "reversible" {
		t.Fatal(a.Tier)
	}
	p := Platform{Actions: []Action{{Name: "archive", Tier: Reversible}}}
	if got, ok := p.Action("archive"); !ok || got.Tier != Reversible {
		t.Fatal(got)
	}
	if _, ok := p.Action("unsubscribe"); ok {
		t.Fatal("undeclared action found")
	}
}
