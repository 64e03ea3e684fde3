package chat

import (
	"slices"
	"testing"
)

func TestAwaited(t *testing.T) {
	user := func(task string) Message {
		return Message{Role: roleUser, Type: typeChat, Content: "q", Metadata: map[string]any{keyReplyTask: task}}
	}
	reply := func(task string) Message {
		return Message{Role: roleAssistant, Type: typeChat, Content: "a", Metadata: map[string]any{keyTaskID: task}}
	}
	processing := func(task string) Message {
		return Message{Role: roleSystem, Type: typeSystem, Content: textProcessing, Metadata: map[string]any{keyReplyTask: task}}
	}
	cases := []struct {
		name string
		msgs []Message
		want []string
	}{
		{"empty", nil, nil},
		{"answered", []Message{user("t1"), reply("t1")}, nil},
		{"last unanswered", []Message{user("t1"), reply("t1"), user("t2")}, []string{"t2"}},
		{"reply of another task does not count", []Message{user("t1"), reply("t9")}, []string{"t1"}},
		{"approved action running", []Message{user("t1"), reply("t1"), processing("s1")}, []string{"s1"}},
		{"both, in order", []Message{user("t1"), processing("s1"), user("t2"), reply("t1")}, []string{"s1", "t2"}},
		{"old records without metadata", []Message{{Role: roleUser, Type: typeChat, Content: "q"}}, nil},
		{"ids not strings are ignored", []Message{{Role: roleUser, Metadata: map[string]any{keyReplyTask: 3}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Awaited(c.msgs); !slices.Equal(got, c.want) {
				t.Fatalf("Awaited = %v, want %v", got, c.want)
			}
		})
	}
}
