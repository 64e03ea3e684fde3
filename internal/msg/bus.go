package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a Bus.
type Options struct {
	// URL joins an existing NATS server. Empty with Server set connects in-process.
	URL string
	// Server is the embedded server to connect to in-process.
	Server *Server
	// Credentials is a credentials file for URL connections: a NATS .creds file
	// (user JWT and seed) or an nkey seed file such as the embedded server's
	// steward.nk (see [Server.NkeyFile]). In-process connections need none.
	Credentials string
	// RootCAs is a PEM file of the certificate authorities that sign the TLS
	// certificate of a URL server (a self-signed deployment); "" = the system's.
	RootCAs string
	// ConnectWait is how long Connect keeps retrying a URL server that cannot be
	// reached yet, e.g. at boot before the NATS machine is up (0 = fail at once).
	// Authorization failures are never retried.
	ConnectWait time.Duration
	// MaxDisconnect is how long the connection may stay lost before the Bus gives
	// up (default 2 minutes): Done is closed and Err says why, so `steward run`
	// exits non-zero and its service manager restarts it. Until then nats.go
	// reconnects on its own, without limit.
	MaxDisconnect time.Duration
	// Name is the connection name shown by `nats server report connections`.
	Name string
	// Logger receives operational logs (nil = slog.Default()).
	Logger *slog.Logger
	// Policies resolves the queue policy of a task type (nil = dedup pending
	// duplicates, no rate limit).
	Policies func(taskType string) Policy
	// Retention is how long task status records are kept (default 7 days).
	Retention time.Duration
	// Lanes whose consumers are provisioned at Connect, so `nats consumer ls TASKS`
	// shows them before any work arrives. Other lanes are provisioned on first Serve.
	Lanes []string
	// AckWait is how long a delivered task may go without an ack or heartbeat before
	// it is redelivered (default 30s): after a crash or kill -9, its tasks wait this
	// long for another worker. Handlers heartbeat every AckWait/3 in a goroutine of
	// their own, so a long handler is never redelivered while it runs. It applies to
	// background priorities; see UrgentAckWait.
	AckWait time.Duration
	// UrgentAckWait is AckWait for the priorities a person waits for
	// (PriorityChatAction or better: chat messages, approved chat actions), so
	// that a reply cut short by a crash is redelivered within seconds (default 5s,
	// never more than AckWait). Their handlers heartbeat every UrgentAckWait/3.
	UrgentAckWait time.Duration
	// MaxAttempts bounds the attempts of a task that keeps failing transiently,
	// or whose worker keeps dying (crash, kill -9) while it runs (default 5).
	// Deliveries that a graceful shutdown gave back, or that the handler
	// deferred with RetryAfter, do not count.
	MaxAttempts int
	// Backoff is the delay before attempt n+1 after transient failure n (default
	// 1s, 5s, 30s, 2m, 10m; the last value repeats).
	Backoff []time.Duration
	// MinRetryAfter is the shortest delay a handler's RetryAfter error defers
	// its task by (default DefaultMinRetryAfter): a hint of 0 does not spin.
	MinRetryAfter time.Duration
	// MaxDeferrals bounds how many times a task may be deferred with RetryAfter
	// (default DefaultMaxDeferrals); the deferral after that fails it. Deferrals
	// are not attempts and do not consume MaxAttempts.
	MaxDeferrals int
	// ShutdownGrace bounds how long Serve waits for in-flight handlers after its
	// context is cancelled (default 25s); then their contexts are cancelled.
	ShutdownGrace time.Duration
	// IdleWait is the longest an idle worker slot sleeps before looking again
	// without a doorbell ring (default 5s). It catches tasks whose retry delay,
	// set by another process, has passed.
	IdleWait time.Duration
	// LeaseTTL is the lifetime of a global lane lease (default 15s): a crashed
	// holder's slot frees itself after at most this long. Leases renew every TTL/3.
	LeaseTTL time.Duration
	// Metrics records task metrics (nil = none).
	Metrics *Metrics
}

// Default ack waits (see Options.AckWait and Options.UrgentAckWait).
const (
	DefaultAckWait       = 30 * time.Second
	DefaultUrgentAckWait = 5 * time.Second
)

// ackWait is the ack wait of the consumers of priority p: how long a task of
// that priority may go without a heartbeat before it is redelivered.
func (b *Bus) ackWait(p int) time.Duration {
	if p <= PriorityChatAction {
		return b.o.UrgentAckWait
	}
	return b.o.AckWait
}

// DefaultBackoff is the retry schedule of transient failures.
var defaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// Bus is a connection to the task layer. It is safe for concurrent use.
type Bus struct {
	o      Options
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	status jetstream.KeyValue
	policy jetstream.KeyValue
	leases jetstream.KeyValue
	items  jetstream.KeyValue
	ledger jetstream.KeyValue
	chat   jetstream.Stream // provisioned on first use (guarded by mu)
	log    *slog.Logger
	// instance names this Bus in the doorbells it rings, so its own lanes skip
	// them (they were woken directly).
	instance string
	// watch follows the connection's state: disconnects, reconnects, giving up.
	watch *connWatch

	mu        sync.Mutex
	consumers map[string][MaxPriority + 1]jetstream.Consumer // lane → consumer per priority
	// local are the wake-up functions of the lanes served by this process
	// (guarded by mu): a publish tells them at once, before it returns, so a
	// slot of this process that finishes its task right after an urgent publish
	// never skips the urgent one while the doorbell is still on its way.
	local map[string]map[*laneWake]struct{}

	runMu sync.Mutex
	// running are the ids of the tasks this process's workers run now (guarded
	// by runMu), so a redelivery of one of them is not run a second time here.
	running map[string]struct{}
}

// claimRun records that this process runs task id; false when it already does.
// The returned release forgets it.
func (b *Bus) claimRun(id string) (release func(), ok bool) {
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if _, busy := b.running[id]; busy {
		return nil, false
	}
	if b.running == nil {
		b.running = map[string]struct{}{}
	}
	b.running[id] = struct{}{}
	return func() {
		b.runMu.Lock()
		defer b.runMu.Unlock()
		delete(b.running, id)
	}, true
}

// laneWake wakes a lane served in this process for a task of a priority.
type laneWake struct{ wake func(priority int) }

// addLocal registers a served lane's wake-up; the returned func removes it.
func (b *Bus) addLocal(lane string, wake func(priority int)) (remove func()) {
	w := &laneWake{wake: wake}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.local == nil {
		b.local = map[string]map[*laneWake]struct{}{}
	}
	if b.local[lane] == nil {
		b.local[lane] = map[*laneWake]struct{}{}
	}
	b.local[lane][w] = struct{}{}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.local[lane], w)
	}
}

// wakeLocal tells the lanes served in this process that a task of priority was
// stored on lane.
func (b *Bus) wakeLocal(lane string, priority int) {
	b.mu.Lock()
	var wakes []func(int)
	for w := range b.local[lane] {
		wakes = append(wakes, w.wake)
	}
	b.mu.Unlock()
	for _, wake := range wakes {
		wake(priority)
	}
}

// Connect connects to NATS and provisions the stream TASKS and the buckets tasks and
// policy. Provisioning is idempotent; an existing stream whose settings cannot be
// brought to Steward's is reported with what differs.
func Connect(ctx context.Context, o Options) (*Bus, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retention <= 0 {
		o.Retention = 7 * 24 * time.Hour
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.UrgentAckWait <= 0 {
		o.UrgentAckWait = DefaultUrgentAckWait
	}
	o.UrgentAckWait = min(o.UrgentAckWait, o.AckWait)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if len(o.Backoff) == 0 {
		o.Backoff = defaultBackoff
	}
	if o.MinRetryAfter <= 0 {
		o.MinRetryAfter = DefaultMinRetryAfter
	}
	o.MinRetryAfter = min(o.MinRetryAfter, MaxRetryAfter)
	if o.MaxDeferrals <= 0 {
		o.MaxDeferrals = DefaultMaxDeferrals
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 25 * time.Second
	}
	if o.IdleWait <= 0 {
		o.IdleWait = 5 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.Name == "" {
		o.Name = "steward"
	}
	if o.MaxDisconnect <= 0 {
		o.MaxDisconnect = DefaultMaxDisconnect
	}
	url := o.URL
	watch := newConnWatch(o.Logger, o.MaxDisconnect, RedactURL(url))
	nopts := append(watch.options(), nats.Name(o.Name))
	switch {
	case url != "":
		if o.Credentials != "" {
			auth, err := credentialsOption(o.Credentials, o.Logger)
			if err != nil {
				return nil, err
			}
			nopts = append(nopts, auth)
		}
		if o.RootCAs != "" {
			nopts = append(nopts, nats.RootCAs(o.RootCAs))
		}
	case o.Server != nil:
		nopts = append(nopts, nats.InProcessServer(o.Server.ns))
		if o.Server.kp != nil {
			pub, err := o.Server.kp.PublicKey()
			if err != nil {
				return nil, fmt.Errorf("embedded nats credentials: %w", err)
			}
			nopts = append(nopts, nats.Nkey(pub, o.Server.sign))
		}
		watch.addr, watch.inProcess = "embedded server (in-process)", true
	default:
		return nil, errors.New("msg: neither a NATS URL nor an embedded server given")
	}
	nc, err := dial(ctx, url, o.ConnectWait, o.Logger, nopts)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		watch.closing()
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b := &Bus{o: o, nc: nc, js: js, log: o.Logger, consumers: map[string][MaxPriority + 1]jetstream.Consumer{}, instance: randomHex(8), watch: watch}
	watch.setAfterReconnect(b.checkProvisioned)
	if err := b.provision(ctx, true); err != nil {
		watch.closing()
		nc.Close()
		return nil, err
	}
	for _, lane := range o.Lanes {
		if _, err := b.laneConsumers(ctx, lane); err != nil {
			watch.closing()
			nc.Close()
			return nil, err
		}
	}
	return b, nil
}

// StreamConfig is the configuration of the stream TASKS.
func streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamTasks,
		Description: "Steward tasks: tasks.<lane>.<priority>.<type>.<key>",
		Subjects:    []string{SubjectRoot + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		// One pending message per subject: the key token is the payload fingerprint
		// for deduplicated types, so an identical pending task is refused atomically.
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		Duplicates:           2 * time.Minute,
		MaxMsgSize:           4 << 20,
	}
}

// provision creates (or brings to Steward's settings) the streams and buckets.
// With assign it keeps their handles (at Connect); a re-provision after a
// reconnect only ensures they exist (handles address streams by name, and
// the Bus's are read by running workers).
func (b *Bus) provision(ctx context.Context, assign bool) error {
	want := streamConfig()
	if s, err := b.js.Stream(ctx, StreamTasks); err == nil {
		have := s.CachedInfo().Config
		var diffs []string
		if have.Retention != want.Retention {
			diffs = append(diffs, fmt.Sprintf("retention is %s, want %s", have.Retention, want.Retention))
		}
		if have.Storage != want.Storage {
			diffs = append(diffs, fmt.Sprintf("storage is %s, want %s", have.Storage, want.Storage))
		}
		if len(diffs) > 0 {
			return fmt.Errorf("stream %s exists with incompatible settings (%s); "+
				"Steward cannot change these in place: back it up and remove it with `nats stream rm %s` (pending tasks are lost), or point Steward at another NATS",
				StreamTasks, strings.Join(diffs, "; "), StreamTasks)
		}
	}
	stream, err := b.ensureStream(ctx, want)
	if err != nil {
		return fmt.Errorf("provision stream %s: %w", StreamTasks, err)
	}
	status, err := b.ensureKV(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketTasks,
		Description: "Steward task status records (key = task id)",
		History:     1,
		TTL:         b.o.Retention,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketTasks, err)
	}
	policy, err := b.ensureKV(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketPolicy,
		Description: "Steward queue policy state (rate-limit windows per task type)",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketPolicy, err)
	}
	leases, err := b.ensureKV(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketLeases,
		Description: "Steward global lane leases (key = <lane>.<slot>); bounds LLM requests across processes",
		History:     1,
		TTL:         b.o.LeaseTTL,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketLeases, err)
	}
	items, err := b.ensureKV(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketItems,
		Description: "Steward tracked items: facts, classification (key = <integration>.<platform>.<item>)",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketItems, err)
	}
	ledger, err := b.ensureKV(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketLedger,
		Description: "Steward actions taken per item (irreversible ones written before they happen)",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", BucketLedger, err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: StreamAudit, Description: "Steward audit events: audit.<source>; the journal writes the daily log from them",
			Subjects: []string{AuditRoot + ".>"}, Storage: jetstream.FileStorage, MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute},
		{Name: StreamNotes, Description: "Steward note writes: notes.<kind>; the journal writes them under directories.notes",
			Subjects: []string{NotesRoot + ".>"}, Storage: jetstream.FileStorage, MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute},
	} {
		if _, err := b.ensureStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	if assign {
		b.stream, b.status, b.policy, b.leases, b.items, b.ledger = stream, status, policy, leases, items, ledger
	}
	return nil
}

// consumerName is the durable name of a lane's consumer for one priority.
func consumerName(lane string, prio int) string { return fmt.Sprintf("%s_p%d", lane, prio) }

// laneConsumers provisions (once per process) the durable pull consumers of lane.
func (b *Bus) laneConsumers(ctx context.Context, lane string) ([MaxPriority + 1]jetstream.Consumer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cs, ok := b.consumers[lane]; ok {
		return cs, nil
	}
	cs, err := b.createLaneConsumers(ctx, lane)
	if err != nil {
		return cs, err
	}
	b.consumers[lane] = cs
	return cs, nil
}

// createLaneConsumers creates (or updates) the durable pull consumers of lane.
func (b *Bus) createLaneConsumers(ctx context.Context, lane string) ([MaxPriority + 1]jetstream.Consumer, error) {
	var cs [MaxPriority + 1]jetstream.Consumer
	if !ValidLane(lane) {
		return cs, fmt.Errorf("lane %q: want letters, digits, '_' or '-'", lane)
	}
	for p := MinPriority; p <= MaxPriority; p++ {
		c, err := b.js.CreateOrUpdateConsumer(ctx, StreamTasks, jetstream.ConsumerConfig{
			Durable:       consumerName(lane, p),
			Description:   fmt.Sprintf("Steward lane %s, priority %d", lane, p),
			FilterSubject: fmt.Sprintf("%s.%s.%d.>", SubjectRoot, lane, p),
			AckPolicy:     jetstream.AckExplicitPolicy,
			// Updated in place on consumers made with another ack wait (those
			// of earlier versions waited 30s at every priority).
			AckWait:    b.ackWait(p),
			MaxDeliver: -1, // attempts are counted and bounded by the worker
			// Tasks waiting for a retry delay count as unacknowledged: keep room.
			MaxAckPending: 100_000,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return cs, fmt.Errorf("provision consumer %s: %w", consumerName(lane, p), err)
		}
		cs[p] = c
	}
	return cs, nil
}

// checkProvisioned runs after a reconnect: a NATS server that came back
// without the stream TASKS (a new or wiped server) gets Steward's streams,
// buckets and this process's lane consumers again, so that work resumes; the
// tasks that were pending on it are lost, and that is logged. When that fails
// (e.g. a user without the right to create streams) the Bus gives up, so the
// process exits and its service manager restarts it.
func (b *Bus) checkProvisioned() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.js.Stream(ctx, StreamTasks); !errors.Is(err, jetstream.ErrStreamNotFound) {
		return // there (or unknown: the next reconnect asks again)
	}
	b.log.Error("NATS came back without Steward's streams (a new or wiped server): tasks pending there are lost; provisioning again")
	if err := b.provision(ctx, false); err != nil {
		b.watch.abandon(b.nc, fmt.Errorf("%w: the server lost Steward's streams and they cannot be provisioned again: %w", ErrConnectionLost, err))
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.chat = nil // provisioned again on first use
	for lane := range b.consumers {
		// Same names: the handles the workers hold address the new consumers.
		if _, err := b.createLaneConsumers(ctx, lane); err != nil {
			b.watch.abandon(b.nc, fmt.Errorf("%w: the server lost Steward's consumers and they cannot be provisioned again: %w", ErrConnectionLost, err))
			return
		}
	}
	b.log.Info("Steward's streams, buckets and lane consumers provisioned again")
}

// Depth is the queue depth of one lane and priority.
type Depth struct {
	Lane       string `json:"lane"`
	Priority   int    `json:"priority"`
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ack_pending"`
}

// Depth reports, for every provisioned consumer, the tasks waiting and the tasks
// delivered but not acknowledged.
func (b *Bus) Depth(ctx context.Context) ([]Depth, error) {
	var out []Depth
	lister := b.stream.ListConsumers(ctx)
	for info := range lister.Info() {
		lane, prio, ok := parseConsumerName(info.Name)
		if !ok {
			continue
		}
		out = append(out, Depth{Lane: lane, Priority: prio, Pending: info.NumPending, AckPending: info.NumAckPending})
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list consumers: %w", err)
	}
	return out, nil
}

func parseConsumerName(name string) (string, int, bool) {
	i := strings.LastIndex(name, "_p")
	if i <= 0 || len(name) != i+3 {
		return "", 0, false
	}
	p := int(name[i+2] - '0')
	if p < MinPriority || p > MaxPriority {
		return "", 0, false
	}
	return name[:i], p, true
}

// RedactURL hides the password (or token) of a NATS URL list so it can be logged.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		u, err := neturl.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "<unparsable url>"
			continue
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = neturl.User("xxxxx") // a bare token
			}
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// Close closes the connection (after flushing buffered publishes). Done is
// closed once it is, with a nil Err.
func (b *Bus) Close() {
	b.watch.closing()
	if err := b.nc.Drain(); err != nil {
		b.nc.Close() // not connected (or closed already): nothing to flush
	}
}

// Done is closed when the Bus stops for good: Close was called, the server
// closed the connection in a way nats.go does not recover from, or it stayed
// lost longer than Options.MaxDisconnect. Err then tells which.
func (b *Bus) Done() <-chan struct{} { return b.watch.done }

// Err is nil while the Bus works and after Close; once Done is closed without
// Close it says why the Bus gave up (wrapping ErrConnectionLost).
func (b *Bus) Err() error { return b.watch.failure() }

// ErrDisconnected is returned by Healthy while the connection to NATS is down.
var ErrDisconnected = errors.New("not connected to NATS")

// Healthy reports whether the bus can work now: nil while connected to NATS,
// else an error (wrapping ErrDisconnected) that names the connection's state.
func (b *Bus) Healthy() error {
	if b.nc.IsConnected() {
		return nil
	}
	return fmt.Errorf("%w (%s)", ErrDisconnected, strings.ToLower(b.nc.Status().String()))
}
