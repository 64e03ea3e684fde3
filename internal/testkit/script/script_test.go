package script_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/script"
)

func TestQueue(t *testing.T) {
	q := script.NewQueue[int](func() string { return "default" })
	if got := q.Next(1); got != "default" {
		t.Errorf("empty queue: %q, want default", got)
	}
	q.SetReply(func(n int) string { return "reply" + string(rune('0'+n)) })
	q.Push("a", "b")
	q.Push("c")
	if n := q.Pending(); n != 3 {
		t.Errorf("Pending = %d, want 3", n)
	}
	var got []string
	for i := range 4 {
		got = append(got, q.Next(i))
	}
	if want := []string{"a", "b", "c", "reply3"}; !slices.Equal(got, want) {
		t.Errorf("Next: %q, want %q", got, want)
	}
	q.Push("x")
	q.Clear()
	if n, r := q.Pending(), q.Next(2); n != 0 || r != "reply2" {
		t.Errorf("after Clear: Pending %d, Next %q; want 0, reply2", n, r)
	}
	q.SetReply(nil)
	if got := q.Next(1); got != "default" {
		t.Errorf("SetReply(nil): %q, want default", got)
	}
}

func TestQueueConcurrent(t *testing.T) {
	q := script.NewQueue[int](func() int { return -1 })
	for i := range 100 {
		q.Push(i)
	}
	var wg sync.WaitGroup
	seen := make([]int, 101)
	var mu sync.Mutex
	for range 10 {
		wg.Go(func() {
			for range 11 {
				r := q.Next(0)
				mu.Lock()
				seen[r+1]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, n := range seen[1:] {
		if n != 1 {
			t.Errorf("reply %d handed out %d times", i, n)
		}
	}
	if seen[0] != 10 {
		t.Errorf("default handed out %d times, want 10", seen[0])
	}
}

func TestWaitUntil(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		in      time.Duration // deadline from now
		closing chan struct{}
		spin    time.Duration
		want    bool
		atLeast time.Duration
	}{
		{"past deadline", context.Background(), -time.Second, nil, script.Precision, true, 0},
		{"past deadline, cancelled", cancelled, -time.Second, nil, 0, true, 0},
		{"precise", context.Background(), 20 * time.Millisecond, nil, script.Precision, true, 20 * time.Millisecond},
		{"sleep only", context.Background(), 20 * time.Millisecond, nil, 0, true, 20 * time.Millisecond},
		{"spin longer than the wait", context.Background(), 5 * time.Millisecond, nil, time.Second, true, 5 * time.Millisecond},
		{"client left", cancelled, time.Minute, nil, script.Precision, false, 0},
		{"server closing", context.Background(), time.Minute, closed, 0, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if got := script.WaitUntil(tc.ctx, start.Add(tc.in), tc.closing, tc.spin); got != tc.want {
				t.Errorf("WaitUntil = %v, want %v", got, tc.want)
			}
			if took := time.Since(start); took < tc.atLeast || (!tc.want && took > 10*time.Second) {
				t.Errorf("took %v, want at least %v", took, tc.atLeast)
			}
		})
	}
}

func TestHang(t *testing.T) {
	closing := make(chan struct{})
	done := make(chan struct{})
	go func() { script.Hang(context.Background(), closing); close(done) }()
	select {
	case <-done:
		t.Fatal("Hang returned before the server closed")
	case <-time.After(10 * time.Millisecond):
	}
	close(closing)
	<-done

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	script.Hang(ctx, nil)
}

func TestWriteRaw(t *testing.T) {
	tests := []struct {
		status   int
		ct, def  string
		wantType string
	}{
		{200, "", "application/json", "application/json"},
		{503, "text/html", "text/plain; charset=utf-8", "text/html"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		script.WriteRaw(rec, tc.status, []byte("{not json"), tc.ct, tc.def)
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.wantType || rec.Body.String() != "{not json" {
			t.Errorf("WriteRaw(%d, %q, %q): %d %q %q", tc.status, tc.ct, tc.def, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
}
