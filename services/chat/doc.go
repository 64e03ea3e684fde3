// Package chat is the chat service: conversations stored in the JetStream stream
// CHAT (subject chat.<conversation id>), the chat.message worker that asks the
// chat LLM profile at priority 1, proposals of chat-proposable services that a
// person approves or rejects, and the answers to polling. The gateway's
// /api/chat endpoints, the /ui/chat page and `steward chat` are thin clients of
// the Service methods.
//
// Contract (agreed between the service and its clients; keep signatures stable):
// every method is safe for concurrent use; conversation ids are 16 lower-case
// hex characters (msg.ValidConversationID); errors for unknown conversations and
// tasks are ErrNotFound; request problems a user can fix are *RequestError with
// the HTTP status and the reference detail text.
//
// # Storage
//
// One stream message per record, in the reference JSONL format: {"role",
// "type", "content", "ts", "metadata"} with metadata left out when there is
// none, ts an ISO-8601 UTC time with microseconds and "+00:00". A conversation
// exists from Create on: Create stores a hidden record of type "created" (only
// if the subject is still empty, so an id is never reused). That marker is
// always the first record of the subject; History never shows it, List does
// not count it, and a conversation holding nothing else is left out of List.
// /clear appends a new marker and then purges every record before it, so the
// conversation never stops existing, even if the process dies in between (the
// old records then stay until the next /clear). The /clear command and its
// "Conversation cleared." answer are not stored, as in the reference.
//
// List reads, per conversation, only its first record (the marker), the one
// after it and its last (three direct gets), not the whole history:
// message_count counts every record but the marker, created_at is the first
// shown record's ts, last_activity the last one's; newest activity first, ties
// by id.
//
// # Sending
//
// Content that is empty or only white space, or longer than Options.MaxContent
// bytes, is refused with 422 before anything is stored (the reference accepted
// empty messages). Content starting with "/" is a command: the first word is
// matched case-sensitively; only /clear exists, anything else is answered (and
// stored) "Unknown command: <cmd>. Available commands: /clear". Anything else is
// stored as a user chat record and a chat.message task is published at
// priority 1 (msg.PriorityChat) on lane llm_<chat.llm>, without queue policies,
// with the payload {conversation_id, llm_profile, messages, on_result:
// [{type: chat_reply, conversation_id}]}. The message list is frozen into the
// payload: the system prompt, then every chat-type record since the last /clear
// (commands, cards, responses and system messages left out), newest kept first
// when the texts add up to more than 1 MiB (the task stream refuses messages
// over 4 MiB). A chat.llm naming no configured profile is refused with 503
// (nothing would ever serve the lane).
//
// System prompt = chat.system_prompt and the action block, joined by a blank
// line when both are present. The action block lists the chat actions: every
// service with a chat block whose integration type is configured at least once,
// or declares no instance fields (notes.save_note), and — once Register has
// run — that has a handler. Unlike the reference, an action that cannot run
// (GitHub with no github integration configured, or before its implementation
// exists) is not offered. When exactly one instance of the type is configured, approved tasks
// carry its id as "integration"; with several, none (and a warning), as in the
// reference.
//
// # The chat.message worker
//
// The handler makes one LLM call with the frozen messages, through the
// profile's client; the request holds the lane's lease only while it is in
// flight (the lane's llm.Gate), so the next LLM task starts while this one
// stores its reply. When chat actions exist it asks for structured output {reply,
// proposal?}; a reply that is a JSON object with a string "reply" is
// structured, anything else (invalid JSON, no reply, no actions) is shown as
// plain text — no retry, as in the reference. A proposal becomes a card only
// when it names an offered action and its parameters satisfy the service's
// input_schema; otherwise it is dropped with a warning in the log and only the
// reply is shown.
//
// It appends the assistant reply (metadata {task_id}) and, for a valid
// proposal, the card: role system, type confirmation, content = the proposal's
// description (or "Proposed action: <action>"), metadata {proposal_id (8 hex),
// action, parameters, description, options (the service's, default
// approve/reject), status "pending", task_id}. The LLM never chooses options.
//
// Errors: a transient LLM error is retried by the task layer; a permanent one,
// or a transient one on the last attempt, appends ONE system message "<task
// type> failed: <error>" with metadata {task_id}, then fails the task. It is
// not appended when the handler was cut short by a shutdown (the task is
// redelivered).
//
// Redelivery and crashes: a redelivered task (attempt > 1) first looks for
// records carrying its task id; if the earlier attempt already stored its reply
// (or its error), the handler returns that outcome again without calling the
// LLM or appending anything. So every record is stored at most once. The
// window that is not covered: a crash after the reply was stored but before its
// card was, loses the card (at most once, never twice); a crash after the LLM
// answered but before anything was stored costs one more LLM call.
//
// # Proposals
//
// The status of a card is derived from the records that follow it, which are
// persisted like everything else, so it is the same after a restart: pending;
// approved or rejected once a response record exists; done or failed once the
// action's result (or a failure to start it) is recorded. History and Poll show
// cards with that status.
//
// Respond checks, in order: the conversation (ErrNotFound), the card (400
// "Proposal <pid> not found"), an earlier response (400 "Proposal <pid> already
// responded to"), the option (400 "Invalid option '<opt>'. Valid: {...}", the
// card's options only: an option the service did not declare never approves).
// The response record (user/response, {proposal_id, option}) is appended only
// if the conversation did not change since it was read (msg.Bus.ChatAppendIf),
// so two concurrent clicks record one response and start at most one task.
// Then "reject" appends "Action cancelled."; any other declared option appends
// "Processing..." and publishes service.<type>.<service> at priority 2
// (msg.PriorityChatAction) on lane io, provenance "rule" (a person approved
// it), without queue policies, payload {integration?, inputs: parameters,
// option, on_result: [{type: chat_reply, conversation_id, proposal_id}]}. A
// publish failure is recorded as a failed proposal.
//
// Register wraps the handler of every chat-proposable service so that, when a
// task carrying a chat_reply route ends (done, or failed for good), one system
// message is appended with the result's "text" ("Action completed." when it
// has none; the reference showed an empty text as an empty message) or "<task
// type> failed: <error>", metadata {task_id, proposal_id, status: done|failed}.
// A redelivered task whose message is already stored returns that outcome
// without running the service again. Register must run after the services'
// own handlers are registered; a chat-proposable service with no handler is
// not offered, and gets a handler that fails permanently, so a task queued for
// it anyway still reports into the conversation.
//
// # Polling
//
// Poll never writes. It reads the task status record (bucket tasks): pending
// and active (also while waiting for a retry) answer "pending"; done and
// failed answer with the records that carry the task id, in order. When there
// are none (the conversation was cleared, or the task never had one) it
// answers with messages made from the status record itself (the result's
// reply, content or text; "<type> failed: <error>"), timestamped with the
// completion time. Both are persisted state, so every poll — before or after a
// restart — gets the same answer, and nothing is ever recorded twice.
package chat
