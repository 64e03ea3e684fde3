package email_test

// The config templates of these tests, filled in by [world.setConfig] as
// fmt.Sprintf(template, LLM stand-in URL, test directory, IMAP port), start
// with these two pieces: fakeLLM, any further settings of the LLM (indented
// four spaces), personalInbox, then the inbox platform's settings (indented
// eight spaces).
const (
	// fakeLLM is the llms section: the default LLM is the stand-in at %[1]s.
	fakeLLM = `llms:
  default:
    base_url: %[1]s
    model: fake
`
	// personalInbox is the notes and logs directories under %[2]s and the
	// email integration "personal" (alice on the Dovecot stand-in at
	// 127.0.0.1:%[3]d), up to its inbox platform.
	personalInbox = `directories:
  notes: %[2]s/notes
  logs: %[2]s/logs
integrations:
  - type: email
    name: personal
    imap_server: 127.0.0.1
    imap_port: %[3]d
    username: alice
    password: !secret pw
    platforms:
      inbox:
`
)
