// Package llm is Steward's client for the language model the user runs: any
// server that speaks the OpenAI chat-completions wire format (Ollama, llama.cpp,
// vLLM, LM Studio, OpenAI itself).
//
// It owns:
//   - [Client]: one backend per configured profile (llms.<name>), posting to
//     {base_url}/v1/chat/completions with the profile's model, bearer token,
//     parameters and timeout; [Registry] holds one Client per profile.
//   - [Conversation]: a multi-turn system/user/assistant history with plain
//     ([Conversation.Send]) and schema-checked ([Conversation.SendStructured])
//     turns; a structured turn is validated locally against a [Schema] (JSON
//     Schema draft 2020-12) and retried up to [MaxAttempts] times, each retry
//     telling the model what was wrong.
//   - [Error]: every failure is typed Transient (worth retrying later: connection
//     refused, 429, 5xx, timeout, output still invalid after retries) or
//     Permanent (other 4xx, unknown profile, bad request); see [IsTransient].
//   - [Salt] and [Scrub]: the prompt-injection barrier. Text from outside
//     (mail, GitHub) reaches the model only between random salted markers, and
//     marker-like text is neutralised inside it.
//
// It must never: log prompt or reply text above debug level; put the token
// or prompt text into an error message (of the base URL, only the host:port
// of a connection error); retry on its own beyond
// the structured-output attempts (the task layer retries transient errors with
// backoff); or decide anything from the model's output (deterministic rules
// do that). It does not bound concurrency itself: every request enters the
// [Gate] its context carries (the llm_<profile> lane's global lease) right
// before it is sent and leaves it when the answer is read.
package llm
