package chat

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/manifest"
)

// The action block renders like the reference's action_prompt template.
func TestActionBlock(t *testing.T) {
	if got := actionBlock(nil); got != "" {
		t.Fatalf("no actions: %q", got)
	}
	issue := &action{Key: "service.github.create_issue", Description: "Create a GitHub issue", Service: &manifest.Service{
		InputSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"body":  map[string]any{"type": "string"},
				"title": map[string]any{"type": "string", "description": "Issue title"},
				"repo":  map[string]any{"type": "string", "description": "Repository in org/repo format"},
				"draft": map[string]any{"type": "boolean"},
				"notes": map[string]any{},
			},
			"required": []any{"repo", "title"},
		}}}
	bare := &action{Key: "service.x.ping", Service: &manifest.Service{}}
	got := actionBlock([]*action{issue, bare})
	want := `Available actions:

  service.github.create_issue
    Create a GitHub issue
    Parameters:
      - repo: string (required) — Repository in org/repo format
      - title: string (required) — Issue title
      - body: string
      - draft: boolean
      - notes: string

  service.x.ping`
	if !strings.HasSuffix(got, want) {
		t.Fatalf("got:\n%s\nwant suffix:\n%s", got, want)
	}
	if !strings.HasPrefix(got, actionInstructions) || strings.Contains(got, "Context:") {
		t.Fatalf("got:\n%s", got)
	}
}

func TestLLMMessagesBudget(t *testing.T) {
	big := strings.Repeat("x", maxHistoryBytes/2+1)
	recs := []entry{
		{rec: record{Role: roleUser, Type: typeChat, Content: "oldest " + big}},
		{rec: record{Role: roleAssistant, Type: typeChat, Content: "old reply"}},
		{rec: record{Role: roleUser, Type: typeCommand, Content: "/foo"}},
		{rec: record{Role: roleSystem, Type: typeCommand, Content: "Unknown command"}},
		{rec: record{Role: roleSystem, Type: typeConfirmation, Content: "card"}},
		{rec: record{Role: roleUser, Type: typeResponse, Content: "approve"}},
		{rec: record{Role: roleSystem, Type: typeSystem, Content: "Processing..."}},
		{rec: record{Role: roleUser, Type: typeChat, Content: "newer " + big}},
		{rec: record{Role: roleUser, Type: typeChat, Content: "newest"}},
	}
	got := llmMessages("sys", recs)
	var roles []string
	for _, m := range got {
		mm := m.(map[string]any)
		c := mm["content"].(string)
		roles = append(roles, mm["role"].(string)+":"+c[:min(5, len(c))])
	}
	// The oldest turn does not fit any more; commands, cards and system
	// messages never go to the LLM.
	if strings.Join(roles, "|") != "system:sys|assistant:old r|user:newer|user:newes" {
		t.Fatalf("%v", roles)
	}
	// The newest message is always sent, however long.
	huge := []entry{{rec: record{Role: roleUser, Type: typeChat, Content: strings.Repeat("y", 2*maxHistoryBytes)}}}
	if got := llmMessages("", huge); len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
}

func TestPythonReprs(t *testing.T) {
	for in, want := range map[string]string{"maybe": "'maybe'", "it's": `"it's"`, `a'b"c`: `'a\'b"c'`, "": "''"} {
		if got := pyRepr(in); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", in, got, want)
		}
	}
	if got := pySet([]string{"approve", "reject"}); got != "{'approve', 'reject'}" {
		t.Fatal(got)
	}
	if got := pySet(nil); got != "set()" {
		t.Fatal(got)
	}
}

func TestProposalStates(t *testing.T) {
	card := func(pid string) entry {
		return entry{rec: record{Role: roleSystem, Type: typeConfirmation, Metadata: map[string]any{keyProposalID: pid, keyStatus: statusPending}}}
	}
	recs := []entry{
		{rec: record{Type: typeCreated}},
		card("a"), card("b"), card("c"), card("d"),
		{rec: record{Type: typeResponse, Metadata: map[string]any{keyProposalID: "a", keyOption: "reject"}}},
		{rec: record{Type: typeResponse, Metadata: map[string]any{keyProposalID: "b", keyOption: "approve"}}},
		{rec: record{Type: typeResponse, Metadata: map[string]any{keyProposalID: "c", keyOption: "go"}}},
		{rec: record{Type: typeSystem, Metadata: map[string]any{keyProposalID: "c", keyStatus: statusFailed}}},
	}
	msgs := messages(recs, recs)
	var got []string
	for _, m := range msgs {
		if m.Type == typeConfirmation {
			got = append(got, m.Metadata[keyStatus].(string))
		}
	}
	if strings.Join(got, ",") != "rejected,approved,failed,pending" || len(msgs) != len(recs)-1 {
		t.Fatalf("%v (%d messages)", got, len(msgs))
	}
	// The stored metadata is not changed.
	if recs[1].rec.Metadata[keyStatus] != statusPending {
		t.Fatal("stored record mutated")
	}
}
