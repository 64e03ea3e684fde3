package msg

import (
	"context"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Provisioning changes a stream or bucket only when a setting Steward chooses
// differs from what the server has. Every process provisions at start (the Pi
// and the GPU box both do), and an update that changes nothing still rewrites
// the stream's configuration on the server while another process may be
// creating consumers or watchers on it.

// ensureStream returns the stream, created or brought to want's settings.
func (b *Bus) ensureStream(ctx context.Context, want jetstream.StreamConfig) (jetstream.Stream, error) {
	if s, err := b.js.Stream(ctx, want.Name); err == nil && streamSettled(s.CachedInfo().Config, want) {
		return s, nil
	}
	return b.js.CreateOrUpdateStream(ctx, want)
}

// streamSettled reports whether have already carries every setting want
// chooses (a zero setting in want leaves the server's default alone).
func streamSettled(have, want jetstream.StreamConfig) bool {
	same := func(h, w int64) bool { return w == 0 || h == w }
	return have.Description == want.Description &&
		slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention &&
		have.Storage == want.Storage &&
		have.Discard == want.Discard &&
		have.DiscardNewPerSubject == want.DiscardNewPerSubject &&
		have.AllowDirect == want.AllowDirect &&
		same(have.MaxMsgsPerSubject, want.MaxMsgsPerSubject) &&
		same(int64(have.Duplicates), int64(want.Duplicates)) &&
		same(int64(have.MaxMsgSize), int64(want.MaxMsgSize)) &&
		same(int64(have.MaxAge), int64(want.MaxAge))
}

// ensureKV returns the bucket, created or brought to want's settings.
func (b *Bus) ensureKV(ctx context.Context, want jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if kv, err := b.js.KeyValue(ctx, want.Bucket); err == nil {
		if st, err := kv.Status(ctx); err == nil {
			have := st.Config()
			if have.Description == want.Description && have.History == max(want.History, 1) &&
				have.TTL == want.TTL && have.Storage == want.Storage {
				return kv, nil
			}
		}
	}
	return b.js.CreateOrUpdateKeyValue(ctx, want)
}
