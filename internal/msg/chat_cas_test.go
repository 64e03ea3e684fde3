package msg

import (
	"context"
	"errors"
	"testing"
)

func TestChatPointReadsAndConditionalWrites(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	ctx := context.Background()
	a, other := "00112233445566aa", "00112233445566bb"
	if _, err := b.ChatLast(ctx, a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last of empty: %v", err)
	}
	if _, err := b.ChatFirst(ctx, a, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first of empty: %v", err)
	}
	// Only-if-empty: the first create wins, the second conflicts.
	s1, err := b.ChatAppendIf(ctx, a, []byte(`"one"`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ChatAppendIf(ctx, a, []byte(`"dup"`), 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := b.ChatAppend(ctx, other, []byte(`"x"`)); err != nil {
		t.Fatal(err)
	}
	s2, err := b.ChatAppendIf(ctx, a, []byte(`"two"`), s1) // other subjects do not count
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ChatAppendIf(ctx, a, []byte(`"stale"`), s1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale append: %v", err)
	}
	s3, _ := b.ChatAppend(ctx, a, []byte(`"three"`))
	first, err := b.ChatFirst(ctx, a, 0)
	if err != nil || first.Seq != s1 || string(first.Data) != `"one"` {
		t.Fatalf("first %+v %v", first, err)
	}
	next, err := b.ChatFirst(ctx, a, s1+1)
	if err != nil || next.Seq != s2 {
		t.Fatalf("next %+v %v", next, err)
	}
	last, err := b.ChatLast(ctx, a)
	if err != nil || last.Seq != s3 || string(last.Data) != `"three"` {
		t.Fatalf("last %+v %v", last, err)
	}
	if err := b.ChatPurgeBefore(ctx, a, s2); err != nil {
		t.Fatal(err)
	}
	recs, err := b.ChatRecords(ctx, a)
	if err != nil || len(recs) != 2 || recs[0].Seq != s2 || recs[1].Seq != s3 {
		t.Fatalf("after purge: %+v %v", recs, err)
	}
	if recs, _ := b.ChatRecords(ctx, other); len(recs) != 1 {
		t.Fatal("other conversation touched")
	}
	if _, err := b.ChatAppendIf(ctx, "bad", nil, 0); err == nil {
		t.Fatal("bad id accepted")
	}
}

func TestRouterLookup(t *testing.T) {
	r := NewRouter()
	if _, ok := r.Lookup("a.b"); ok {
		t.Fatal("found in an empty router")
	}
	r.Handle("a.b", func(context.Context, *Task) (any, error) { return "x", nil })
	h, ok := r.Lookup("a.b")
	if !ok {
		t.Fatal("not found")
	}
	if v, _ := h(context.Background(), &Task{}); v != "x" {
		t.Fatalf("got %v", v)
	}
}
