package audit

import (
	"context"
	"testing"
	"time"
)

type recorder struct {
	subject string
	v       any
	id      string
}

func (r *recorder) Emit(_ context.Context, subject string, v any, id string) error {
	r.subject, r.v, r.id = subject, v, id
	return nil
}

func TestEmit(t *testing.T) {
	r := &recorder{}
	if err := Emit(context.Background(), r, Event{Source: "email.personal", Kind: KindAction, Text: "Archived", ID: "x1"}); err != nil {
		t.Fatal(err)
	}
	ev := r.v.(Event)
	if r.subject != "audit.email_personal" || r.id != "x1" || ev.At.IsZero() || time.Since(ev.At) > time.Minute {
		t.Fatalf("%+v %s", ev, r.subject)
	}
	if err := Emit(context.Background(), r, Event{}); err == nil {
		t.Fatal("empty event accepted")
	}
	_ = Emit(context.Background(), r, Event{Text: "x"})
	if r.subject != "audit.steward" {
		t.Fatal(r.subject)
	}
}
