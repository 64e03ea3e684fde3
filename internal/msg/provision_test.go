package msg

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// A second process provisioning the same streams and buckets changes nothing on
// the server; a changed setting (here the task records' retention) updates only
// what it concerns.
func TestProvisionUpdatesOnlyWhatChanged(t *testing.T) {
	env := newEnv(t, "")
	first := env.bus(t, nil)
	if _, err := first.chatStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var updated []string
	sub, err := first.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.UPDATED.*", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		updated = append(updated, m.Subject[len("$JS.EVENT.ADVISORY.STREAM.UPDATED."):])
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := first.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	settle := func() []string {
		// Advisories are published asynchronously: a round trip through the
		// server, then a short wait, lets any that were emitted arrive.
		_ = first.nc.Flush()
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(updated)
		updated = nil
		return out
	}

	second := env.bus(t, nil)
	if _, err := second.chatStream(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := settle(); len(got) != 0 {
		t.Fatalf("provisioning again updated %v; want nothing", got)
	}

	env.bus(t, func(o *Options) { o.Retention = 72 * time.Hour })
	if got := settle(); !slices.Equal(got, []string{"KV_" + BucketTasks}) {
		t.Fatalf("changing the retention updated %v; want only KV_%s", got, BucketTasks)
	}
}
