package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Buckets of shared state besides tasks and policy.
const (
	// BucketItems holds one record per tracked item (<integration>.<platform>.<key>).
	BucketItems = "items"
	// BucketLedger records the actions taken per item; irreversible ones are
	// written before their side effect, which makes them at-most-once.
	BucketLedger = "ledger"
)

// Store errors, for errors.Is.
var (
	ErrExists   = errors.New("key exists")
	ErrConflict = errors.New("revision conflict: the record changed since it was read")
)

// Store is a JSON key-value bucket. Values are JSON documents; every write can be
// conditional on the revision that was read (optimistic concurrency).
type Store struct {
	name string
	kv   jetstream.KeyValue
}

// Items is the items bucket.
func (b *Bus) Items() *Store { return &Store{name: BucketItems, kv: b.items} }

// Ledger is the ledger bucket.
func (b *Bus) Ledger() *Store { return &Store{name: BucketLedger, kv: b.ledger} }

// Get decodes the value of key into v and returns its revision; ErrNotFound when
// there is none.
func (s *Store) Get(ctx context.Context, key string, v any) (uint64, error) {
	if !ValidKey(key) {
		return 0, ErrNotFound
	}
	e, err := s.kv.Get(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return 0, ErrNotFound
		}
		return 0, fmt.Errorf("%s get %s: %w", s.name, key, err)
	}
	if v != nil {
		if err := json.Unmarshal(e.Value(), v); err != nil {
			return 0, fmt.Errorf("%s get %s: %w", s.name, key, err)
		}
	}
	return e.Revision(), nil
}

// Create writes v only if key has no value; ErrExists otherwise.
func (s *Store) Create(ctx context.Context, key string, v any) (uint64, error) {
	if err := CheckKey(key); err != nil {
		return 0, Permanent(fmt.Errorf("%s create: %w", s.name, err))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("%s create %s: %w", s.name, key, err)
	}
	rev, err := s.kv.Create(ctx, key, data)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || isCASConflict(err) {
			return 0, ErrExists
		}
		return 0, fmt.Errorf("%s create %s: %w", s.name, key, err)
	}
	return rev, nil
}

// Update writes v only if key is still at revision rev; ErrConflict otherwise.
func (s *Store) Update(ctx context.Context, key string, v any, rev uint64) (uint64, error) {
	if err := CheckKey(key); err != nil {
		return 0, Permanent(fmt.Errorf("%s update: %w", s.name, err))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("%s update %s: %w", s.name, key, err)
	}
	n, err := s.kv.Update(ctx, key, data, rev)
	if err != nil {
		if isCASConflict(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("%s update %s: %w", s.name, key, err)
	}
	return n, nil
}

// Put writes v unconditionally.
func (s *Store) Put(ctx context.Context, key string, v any) (uint64, error) {
	if err := CheckKey(key); err != nil {
		return 0, Permanent(fmt.Errorf("%s put: %w", s.name, err))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("%s put %s: %w", s.name, key, err)
	}
	rev, err := s.kv.Put(ctx, key, data)
	if err != nil {
		return 0, fmt.Errorf("%s put %s: %w", s.name, key, err)
	}
	return rev, nil
}

// Delete removes key (no error when absent).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return Permanent(fmt.Errorf("%s delete: %w", s.name, err))
	}
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s delete %s: %w", s.name, key, err)
	}
	return nil
}

// Mutate reads key into v (left as the zero value when absent), calls fn, and
// writes v back if fn returns nil, retrying on concurrent changes. fn must be
// safe to call more than once. It returns whether the key existed before.
func (s *Store) Mutate(ctx context.Context, key string, v any, fn func(exists bool) error) error {
	for attempt := 0; attempt < 20; attempt++ {
		rev, err := s.Get(ctx, key, v)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := fn(exists); err != nil {
			return err
		}
		if exists {
			_, err = s.Update(ctx, key, v, rev)
		} else {
			_, err = s.Create(ctx, key, v)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrExists) {
			return err
		}
	}
	return fmt.Errorf("%s mutate %s: %w (too many concurrent writers)", s.name, key, ErrConflict)
}

// Keys lists the keys matching a subject-style filter ("" = all; e.g.
// "email_personal.inbox.>").
func (s *Store) Keys(ctx context.Context, filter string) ([]string, error) {
	var lister jetstream.KeyLister
	var err error
	if filter == "" {
		lister, err = s.kv.ListKeys(ctx)
	} else {
		lister, err = s.kv.ListKeysFiltered(ctx, filter)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s keys: %w", s.name, err)
	}
	var out []string
	for k := range lister.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// List calls fn with the current value of every key matching filter ("" = all)
// and returns when all have been delivered.
func (s *Store) List(ctx context.Context, filter string, fn func(key string, value []byte)) error {
	if filter == "" {
		filter = ">"
	}
	w, err := s.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("%s list: %w", s.name, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("%s list: watcher closed", s.name)
			}
			if e == nil {
				return nil
			}
			fn(e.Key(), e.Value())
		}
	}
}

// Change is one update seen by Watch.
type Change struct {
	Key      string
	Value    []byte
	Revision uint64
	Deleted  bool
}

// Watch calls fn for the current value of every key matching filter ("" = all),
// then for every later change, until ctx ends. initialDone is called once the
// current values have been delivered.
func (s *Store) Watch(ctx context.Context, filter string, fn func(Change), initialDone func()) error {
	if filter == "" {
		filter = ">"
	}
	w, err := s.kv.Watch(ctx, filter)
	if err != nil {
		return fmt.Errorf("%s watch: %w", s.name, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				if initialDone != nil {
					initialDone()
				}
				continue
			}
			op := e.Operation()
			fn(Change{Key: e.Key(), Value: e.Value(), Revision: e.Revision(),
				Deleted: op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge})
		}
	}
}
