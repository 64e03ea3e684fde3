package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/services/chat"
)

// chatOptions are the settings of `steward chat`.
type chatOptions struct {
	Gateway      string        // base URL of the gateway
	Token        string        // bearer token ("" = none)
	TokenFile    string        // file holding the bearer token ("" = none)
	Conversation string        // conversation to resume ("" = a new one)
	PollInterval time.Duration // between polls of a pending task
}

// defaultGatewayURL is where `steward run` serves the gateway by default.
const defaultGatewayURL = "http://127.0.0.1:6767"

func newChatCmd() *cobra.Command {
	o := chatOptions{PollInterval: 500 * time.Millisecond}
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with Steward in the terminal (through a running gateway)",
		Long: `Chat with Steward in the terminal. It talks to the gateway of a running Steward
(--gateway, default ` + defaultGatewayURL + `): type a message and press Enter; the
reply is printed as "assistant> ...". When Steward proposes an action, its options
are numbered: type the number (or the option's name) to choose, or just Enter to
decide later. /clear clears the conversation; Ctrl-D quits.

A new conversation is created with your first message; --conversation ID resumes
one (its history is printed first; the web UI at /ui/chat shows the same
conversations). When the gateway has a token, give it with --token-file FILE
or STEWARD_GATEWAY_TOKEN; --token also works, but every user of the machine can
read a flag in the process list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := chatToken(o, cmd.Flags().Changed("token"), os.Getenv, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o.Token = token
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runChat(ctx, o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Gateway, "gateway", defaultGatewayURL, "base URL of the Steward gateway")
	f.StringVar(&o.Token, "token", "", "gateway token (visible in the process list: prefer --token-file or $STEWARD_GATEWAY_TOKEN)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the gateway token (default $STEWARD_GATEWAY_TOKEN)")
	f.StringVar(&o.Conversation, "conversation", "", "resume this conversation (16 hex characters)")
	return cmd
}

// runChat runs a terminal chat until the input ends (nil) or ctx is cancelled
// (nil as well: Ctrl-C is a normal way to leave).
func runChat(ctx context.Context, o chatOptions, in io.Reader, out io.Writer) error {
	client, err := newGatewayClient(o.Gateway, o.Token)
	if err != nil {
		return err
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	// Replies (and anything quoted from them) are untrusted: strip terminal
	// control sequences from every byte printed.
	out = safeWriter{w: out}
	s := &chatSession{api: client, out: out, lines: readLines(in), poll: o.PollInterval}
	err = s.run(ctx, o.Conversation)
	if errors.Is(err, errInputEnded) || (err != nil && ctx.Err() != nil) {
		fmt.Fprintln(out)
		return nil
	}
	return err
}

// errInputEnded is returned when stdin ends (Ctrl-D) or ctx is cancelled.
var errInputEnded = errors.New("input ended")

// readLines reads lines from r on a goroutine, so that waiting for input can
// be cancelled. The channel is closed at the end of the input.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" || err == nil {
				ch <- strings.TrimRight(line, "\r\n")
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// chatSession is one terminal conversation.
type chatSession struct {
	api   *gatewayClient
	out   io.Writer
	lines <-chan string
	poll  time.Duration
	conv  string // "" until the first message creates the conversation
}

// run resumes the conversation (if any), then sends each line read.
func (s *chatSession) run(ctx context.Context, resume string) error {
	if resume != "" {
		if err := s.resume(ctx, resume); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(s.out, "Steward chat: type a message and press Enter; /clear clears the conversation; Ctrl-D quits.")
	}
	for {
		line, err := s.prompt(ctx, "you> ")
		if err != nil {
			return err
		}
		text := strings.TrimSpace(line)
		if text == "" {
			continue
		}
		if err := s.send(ctx, text); err != nil {
			if ctx.Err() != nil || errors.Is(err, errInputEnded) {
				return err
			}
			fmt.Fprintln(s.out, "error:", err)
		}
	}
}

// prompt prints p and waits for the next line.
func (s *chatSession) prompt(ctx context.Context, p string) (string, error) {
	fmt.Fprint(s.out, p)
	select {
	case line, ok := <-s.lines:
		if !ok {
			return "", errInputEnded
		}
		return line, nil
	case <-ctx.Done():
		return "", errInputEnded
	}
}

// resume prints a conversation's history and asks about proposals still open.
func (s *chatSession) resume(ctx context.Context, id string) error {
	if !msg.ValidConversationID(id) {
		return fmt.Errorf("conversation %q: want 16 lower-case hex characters", id)
	}
	var h struct {
		Messages []chat.Message `json:"messages"`
	}
	if err := s.api.do(ctx, http.MethodGet, "/api/chat/conversations/"+id+"/history", nil, &h); err != nil {
		var ge *gatewayError
		if errors.As(err, &ge) && ge.Status == http.StatusNotFound {
			return fmt.Errorf("conversation %s not found", id)
		}
		return err
	}
	s.conv = id
	fmt.Fprintf(s.out, "Steward chat: conversation %s (%d messages); /clear clears it; Ctrl-D quits.\n", id, len(h.Messages))
	answered := map[string]bool{}
	for _, m := range h.Messages {
		if m.Role == "user" && m.Type == "response" {
			if pid, _ := m.Metadata["proposal_id"].(string); pid != "" {
				answered[pid] = true
			}
		}
	}
	if err := s.show(ctx, h.Messages, answered, true); err != nil {
		return err
	}
	// Replies still pending (asked before this session started) are waited for.
	for _, id := range chat.Awaited(h.Messages) {
		if err := s.await(ctx, id, true); err != nil {
			return err
		}
	}
	return nil
}

// send posts one line and prints what comes back.
func (s *chatSession) send(ctx context.Context, text string) error {
	if s.conv == "" {
		var c struct {
			ConversationID string `json:"conversation_id"`
		}
		if err := s.api.do(ctx, http.MethodPost, "/api/chat/conversations", nil, &c); err != nil {
			return err
		}
		if !msg.ValidConversationID(c.ConversationID) {
			return fmt.Errorf("the gateway returned an invalid conversation id %q", c.ConversationID)
		}
		s.conv = c.ConversationID
	}
	var res chat.SendResult
	if err := s.api.do(ctx, http.MethodPost, "/api/chat/conversations/"+s.conv+"/messages",
		map[string]string{"content": text}, &res); err != nil {
		return err
	}
	if res.Type == "command" {
		if res.Message != nil {
			return s.show(ctx, []chat.Message{*res.Message}, nil, false)
		}
		return nil
	}
	if res.TaskID == "" {
		return errors.New("the gateway returned no task id")
	}
	return s.await(ctx, res.TaskID, false)
}

// await polls a task until it is done or failed and prints its messages. A
// task found in a resumed history (resumed) that the queue does not know is
// skipped: it was never queued, or its record has expired.
func (s *chatSession) await(ctx context.Context, taskID string, resumed bool) error {
	path := "/api/chat/tasks/" + url.PathEscape(taskID)
	misses := 0
	for {
		var res chat.PollResult
		err := s.api.do(ctx, http.MethodGet, path, nil, &res)
		var ge *gatewayError
		switch {
		case errors.As(err, &ge) && ge.Status == http.StatusNotFound && resumed:
			return nil
		case errors.As(err, &ge) && ge.Status == http.StatusNotFound && misses < 20:
			misses++ // not recorded yet: keep looking for a few seconds
		case err != nil:
			return fmt.Errorf("waiting for the reply: %w", err)
		case res.Status != "pending":
			return s.show(ctx, res.Messages, nil, false)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.poll):
		}
	}
}

// show prints messages; a proposal still pending (and not in answered) asks
// for a choice. The person's own messages are printed only when replaying a
// history (otherwise they are on the screen already).
func (s *chatSession) show(ctx context.Context, msgs []chat.Message, answered map[string]bool, replay bool) error {
	for _, m := range msgs {
		switch {
		case m.Type == "confirmation" && m.Metadata != nil:
			pid, _ := m.Metadata["proposal_id"].(string)
			status, _ := m.Metadata["status"].(string)
			open := (status == "" || status == "pending") && !answered[pid]
			opts := proposalOptions(m.Metadata)
			s.printProposal(m, opts, open, status)
			if open && pid != "" && len(opts) > 0 {
				if err := s.choose(ctx, pid, opts); err != nil {
					return err
				}
			}
		case m.Role == "user":
			if replay && m.Type != "response" {
				fmt.Fprintln(s.out, "you>", m.Content)
			}
		case m.Role == "assistant":
			fmt.Fprintln(s.out, "assistant>", m.Content)
		default:
			fmt.Fprintln(s.out, "system>", m.Content)
		}
	}
	return nil
}

// proposalOption is one button of a proposal.
type proposalOption struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// proposalOptions reads metadata.options.
func proposalOptions(md map[string]any) []proposalOption {
	raw, _ := md["options"].([]any)
	var out []proposalOption
	for _, o := range raw {
		m, _ := o.(map[string]any)
		id, _ := m["id"].(string)
		if id == "" {
			continue
		}
		label, _ := m["label"].(string)
		if label == "" {
			label = id
		}
		out = append(out, proposalOption{ID: id, Label: label})
	}
	return out
}

// printProposal prints a proposal card: what, the parameters, the options.
func (s *chatSession) printProposal(m chat.Message, opts []proposalOption, open bool, status string) {
	fmt.Fprintln(s.out, "proposal>", m.Content)
	if action, _ := m.Metadata["action"].(string); action != "" {
		fmt.Fprintln(s.out, "  action:", action)
	}
	if params, ok := m.Metadata["parameters"].(map[string]any); ok {
		for _, k := range sortedKeys(params) {
			v, isString := params[k].(string)
			if !isString {
				b, _ := json.Marshal(params[k])
				v = string(b)
			}
			fmt.Fprintf(s.out, "  %s: %s\n", k, v)
		}
	}
	if !open {
		fmt.Fprintf(s.out, "  (%s)\n", proposalState(status))
		return
	}
	var b strings.Builder
	for i, o := range opts {
		fmt.Fprintf(&b, "  [%d] %s", i+1, o.Label)
	}
	fmt.Fprintln(s.out, b.String())
}

// proposalState names a decided proposal's status.
func proposalState(status string) string {
	switch status {
	case "approved":
		return "approved"
	case "rejected":
		return "cancelled"
	case "done":
		return "approved, done"
	case "failed":
		return "approved, failed"
	case "", "pending":
		return "answered"
	}
	return status
}

// choose asks which option to take and sends it; an empty answer leaves the
// proposal open.
func (s *chatSession) choose(ctx context.Context, proposalID string, opts []proposalOption) error {
	for {
		line, err := s.prompt(ctx, fmt.Sprintf("choose 1-%d (Enter to decide later)> ", len(opts)))
		if err != nil {
			return err
		}
		answer := strings.TrimSpace(line)
		if answer == "" {
			fmt.Fprintln(s.out, "system> Left open.")
			return nil
		}
		opt, ok := pickOption(opts, answer)
		if !ok {
			fmt.Fprintf(s.out, "Type a number from 1 to %d.\n", len(opts))
			continue
		}
		var res chat.RespondResult
		if err := s.api.do(ctx, http.MethodPost,
			"/api/chat/conversations/"+s.conv+"/proposals/"+url.PathEscape(proposalID),
			map[string]string{"option": opt.ID}, &res); err != nil {
			return err
		}
		if err := s.show(ctx, []chat.Message{res.Message}, nil, false); err != nil {
			return err
		}
		if res.TaskID != "" {
			return s.await(ctx, res.TaskID, false)
		}
		return nil
	}
}

// pickOption finds the option a person typed: its number, id or label.
func pickOption(opts []proposalOption, answer string) (proposalOption, bool) {
	if n, err := strconv.Atoi(answer); err == nil {
		if n >= 1 && n <= len(opts) {
			return opts[n-1], true
		}
		return proposalOption{}, false
	}
	for _, o := range opts {
		if strings.EqualFold(answer, o.ID) || strings.EqualFold(answer, o.Label) {
			return o, true
		}
	}
	return proposalOption{}, false
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// gatewayClient calls the gateway's JSON API.
type gatewayClient struct {
	base  string
	token string
	http  *http.Client
}

// gatewayError is an error reply of the gateway.
type gatewayError struct {
	Status int
	Detail string
}

func (e *gatewayError) Error() string {
	if e.Status == http.StatusUnauthorized {
		return "the gateway needs its token: pass --token-file FILE or set STEWARD_GATEWAY_TOKEN (" + e.Detail + ")"
	}
	return e.Detail
}

// newGatewayClient checks the base URL.
func newGatewayClient(base, token string) (*gatewayClient, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--gateway %q: want a URL like %s", base, defaultGatewayURL)
	}
	return &gatewayClient{base: u.String(), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do sends a request with an optional JSON body and decodes the JSON reply
// into out; an error status becomes a *gatewayError with the reply's detail.
func (c *gatewayClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gateway at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the gateway's reply: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Detail any `json:"detail"`
		}
		detail := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Detail != nil {
			if s, ok := e.Detail.(string); ok {
				detail = s
			} else {
				b, _ := json.Marshal(e.Detail)
				detail = string(b)
			}
		}
		if detail == "" {
			detail = resp.Status
		}
		return &gatewayError{Status: resp.StatusCode, Detail: detail}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the gateway's reply is not the JSON expected: %w", err)
	}
	return nil
}

// chatToken picks the gateway token: --token-file, else --token (with a
// warning: argv is readable by every user), else $STEWARD_GATEWAY_TOKEN.
func chatToken(o chatOptions, tokenFlag bool, getenv func(string) string, stderr io.Writer) (string, error) {
	switch {
	case o.TokenFile != "" && tokenFlag:
		return "", errors.New("--token and --token-file: give only one")
	case o.TokenFile != "":
		return readSecretFile(o.TokenFile, "--token-file")
	case tokenFlag:
		warnArgvSecret(stderr, "--token", "--token-file FILE or STEWARD_GATEWAY_TOKEN")
		return o.Token, nil
	}
	return getenv("STEWARD_GATEWAY_TOKEN"), nil
}
