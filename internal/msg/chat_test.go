package msg

import (
	"context"
	"fmt"
	"testing"
)

func TestChatStream(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	ctx := context.Background()
	a, c := "0123456789abcdef", "fedcba9876543210"
	if recs, err := b.ChatRecords(ctx, a); err != nil || recs != nil {
		t.Fatalf("%v %v", recs, err)
	}
	for i := 0; i < 300; i++ {
		if _, err := b.ChatAppend(ctx, a, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.ChatAppend(ctx, c, []byte(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	recs, err := b.ChatRecords(ctx, a)
	if err != nil || len(recs) != 300 || string(recs[299].Data) != `{"n":299}` || recs[0].Seq >= recs[1].Seq {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	convs, err := b.ChatConversations(ctx)
	if err != nil || convs[a] != 300 || convs[c] != 1 {
		t.Fatalf("%v %v", convs, err)
	}
	if err := b.ChatPurge(ctx, a); err != nil {
		t.Fatal(err)
	}
	if recs, _ := b.ChatRecords(ctx, a); len(recs) != 0 {
		t.Fatalf("after purge %d", len(recs))
	}
	if recs, _ := b.ChatRecords(ctx, c); len(recs) != 1 {
		t.Fatal("other conversation touched")
	}
	for _, bad := range []string{"", "ABCDEF0123456789", "0123", "0123456789abcdef.x", "*", ">"} {
		if _, err := b.ChatAppend(ctx, bad, []byte("{}")); err == nil {
			t.Errorf("id %q accepted", bad)
		}
	}
}
