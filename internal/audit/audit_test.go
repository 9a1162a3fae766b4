package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/audit"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// The tests run in synctest bubbles: the writer's ticker and retry
// backoff use a fake clock, so timing is exact and nothing sleeps for
// real. A bubble also fails the test if the writer goroutine outlives it.

var discard = slog.New(slog.DiscardHandler)

// call is one InsertAuditEvents call as the sink saw it.
type call struct {
	At  time.Duration // since the sink was created
	IDs []string      // request ids of the batch
}

// fakeSink records every call; fail decides whether call n (from 0)
// fails; release, when set, holds each call until it is closed.
type fakeSink struct {
	start   time.Time
	fail    func(n int) bool
	release chan struct{}

	mu      sync.Mutex
	calls   []call
	written []string
}

func newSink() *fakeSink { return &fakeSink{start: time.Now()} }

var errStore = errors.New("store refused the batch")

func (s *fakeSink) InsertAuditEvents(ctx context.Context, events []v1.AuditEvent) error {
	if s.release != nil {
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.calls)
	s.calls = append(s.calls, call{At: time.Since(s.start), IDs: ids(events)})
	if s.fail != nil && s.fail(n) {
		return errStore
	}
	s.written = append(s.written, ids(events)...)
	return nil
}

func (s *fakeSink) snapshot() (calls []call, written []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...), append([]string(nil), s.written...)
}

// batchSizes are the sizes of the successful writes.
func (s *fakeSink) batchSizes() []int {
	calls, _ := s.snapshot()
	var out []int
	for i, c := range calls {
		if s.fail == nil || !s.fail(i) {
			out = append(out, len(c.IDs))
		}
	}
	return out
}

type counter struct {
	mu sync.Mutex
	n  float64
}

func (c *counter) Add(v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += v
}

func (c *counter) value() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type counters struct{ written, dropped, errs counter }

func (c *counters) audit() audit.Counters {
	return audit.Counters{Written: &c.written, Dropped: &c.dropped, WriteErrors: &c.errs}
}

// counts is what the counters say, for comparison.
type counts struct{ Written, Dropped, WriteErrors float64 }

func (c *counters) counts() counts {
	return counts{c.written.value(), c.dropped.value(), c.errs.value()}
}

func event(i int) v1.AuditEvent {
	return v1.AuditEvent{Action: "auth.me", Method: "GET", Path: "/api/v1/auth/me", Status: 200, RequestID: fmt.Sprint("r", i)}
}

func ids(events []v1.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.RequestID
	}
	return out
}

func idRange(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint("r", i))
	}
	return out
}

func TestCloseWritesEverything(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events int
		cfg    audit.Config
	}{
		{"none", 0, audit.Config{}},
		{"one", 1, audit.Config{}},
		{"odd batches", 1000, audit.Config{BatchSize: 7}},
		{"defaults, full queue", 10000, audit.Config{}},
		{"batch larger than queue", 50, audit.Config{QueueSize: 50, BatchSize: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				sink, c := newSink(), &counters{}
				w := audit.NewWriter(tt.cfg, sink, discard, c.audit())
				for i := range tt.events {
					if !w.Record(event(i)) {
						t.Fatalf("Record(%d) dropped the event", i)
					}
				}
				if err := w.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				_, written := sink.snapshot()
				if diff := cmp.Diff(idRange(0, tt.events), written); diff != "" {
					t.Errorf("written events, in order (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(counts{Written: float64(tt.events)}, c.counts()); diff != "" {
					t.Errorf("counters (-want +got):\n%s", diff)
				}
				if d := w.Depth(); d != 0 {
					t.Errorf("Depth after Close = %d, want 0", d)
				}
			})
		})
	}
}

// A full batch is written at once; a partial one waits at most
// FlushInterval.
func TestBatchSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sink := newSink()
		w := audit.NewWriter(audit.Config{BatchSize: 100, FlushInterval: time.Second}, sink, discard, audit.Counters{})
		defer w.Close(context.Background())

		for i := range 250 {
			w.Record(event(i))
		}
		synctest.Wait()
		want := []call{{0, idRange(0, 100)}, {0, idRange(100, 200)}}
		if calls, _ := sink.snapshot(); !cmp.Equal(want, calls) {
			t.Fatalf("before the flush interval: batches (-want +got):\n%s", cmp.Diff(want, calls))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		want = append(want, call{time.Second, idRange(200, 250)})
		if calls, _ := sink.snapshot(); !cmp.Equal(want, calls) {
			t.Fatalf("after the flush interval: batches (-want +got):\n%s", cmp.Diff(want, calls))
		}

		for i := 250; i < 280; i++ {
			w.Record(event(i))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if diff := cmp.Diff([]int{100, 100, 50, 30}, sink.batchSizes()); diff != "" {
			t.Errorf("batch sizes (-want +got):\n%s", diff)
		}
	})
}

// While the sink is slow the queue fills; then Record drops and counts
// instead of waiting.
func TestQueueFullDrops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sink, c := newSink(), &counters{}
		sink.release = make(chan struct{})
		w := audit.NewWriter(audit.Config{QueueSize: 2, BatchSize: 1}, sink, discard, c.audit())

		w.Record(event(0))
		synctest.Wait() // the writer holds r0 and waits on the sink
		var got []bool
		for i := 1; i <= 5; i++ {
			got = append(got, w.Record(event(i)))
		}
		if diff := cmp.Diff([]bool{true, true, false, false, false}, got); diff != "" {
			t.Errorf("Record results for r1..r5 (-want +got):\n%s", diff)
		}
		if d := w.Depth(); d != 2 {
			t.Errorf("Depth = %d, want 2", d)
		}
		if diff := cmp.Diff(counts{Dropped: 3}, c.counts()); diff != "" {
			t.Errorf("counters while the sink is stuck (-want +got):\n%s", diff)
		}

		close(sink.release)
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, written := sink.snapshot()
		if diff := cmp.Diff(idRange(0, 3), written); diff != "" {
			t.Errorf("written (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(counts{Written: 3, Dropped: 3}, c.counts()); diff != "" {
			t.Errorf("counters (-want +got):\n%s", diff)
		}
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name     string
		failures int // the first calls that fail
		attempts []time.Duration
		want     counts
	}{
		{"succeeds at once", 0, []time.Duration{0}, counts{Written: 3}},
		{"fails once, then recovers", 1, []time.Duration{0, 10 * ms}, counts{Written: 3, WriteErrors: 1}},
		{"recovers on the last retry", 3, []time.Duration{0, 10 * ms, 30 * ms, 70 * ms}, counts{Written: 3, WriteErrors: 3}},
		{"never recovers", 1 << 30, []time.Duration{0, 10 * ms, 30 * ms, 70 * ms}, counts{Dropped: 3, WriteErrors: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				sink, c := newSink(), &counters{}
				sink.fail = func(n int) bool { return n < tt.failures }
				w := audit.NewWriter(audit.Config{BatchSize: 3, Retries: 3, RetryBackoff: 10 * ms, FlushInterval: time.Hour},
					sink, discard, c.audit())
				for i := range 3 {
					w.Record(event(i))
				}
				if err := w.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				calls, written := sink.snapshot()
				var want []call
				for _, at := range tt.attempts {
					want = append(want, call{at, idRange(0, 3)})
				}
				if diff := cmp.Diff(want, calls); diff != "" {
					t.Errorf("sink calls: the same batch, with doubling backoff (-want +got):\n%s", diff)
				}
				wantWritten := idRange(0, 3)
				if tt.want.Written == 0 {
					wantWritten = nil
				}
				if diff := cmp.Diff(wantWritten, written); diff != "" {
					t.Errorf("written (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.want, c.counts()); diff != "" {
					t.Errorf("counters (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// While a failing sink is being retried Record still returns at once,
// dropping what does not fit; every lost event is counted.
func TestFailingSinkNeverBlocksRecord(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sink, c := newSink(), &counters{}
		sink.fail = func(int) bool { return true }
		w := audit.NewWriter(audit.Config{QueueSize: 3, BatchSize: 2, Retries: 2, RetryBackoff: 10 * time.Millisecond, FlushInterval: time.Hour},
			sink, discard, c.audit())
		start := time.Now()
		w.Record(event(0))
		w.Record(event(1))
		synctest.Wait() // the writer is backing off after the first failure
		var got []bool
		for i := 2; i <= 6; i++ {
			got = append(got, w.Record(event(i)))
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Record waited %v", d)
		}
		if diff := cmp.Diff([]bool{true, true, true, false, false}, got); diff != "" {
			t.Errorf("Record results for r2..r6 (-want +got):\n%s", diff)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		const ms = time.Millisecond
		want := []call{
			{0, idRange(0, 2)}, {10 * ms, idRange(0, 2)}, {30 * ms, idRange(0, 2)},
			{30 * ms, idRange(2, 4)}, {40 * ms, idRange(2, 4)}, {60 * ms, idRange(2, 4)},
			{60 * ms, idRange(4, 5)}, {70 * ms, idRange(4, 5)}, {90 * ms, idRange(4, 5)},
		}
		calls, _ := sink.snapshot()
		if diff := cmp.Diff(want, calls); diff != "" {
			t.Errorf("sink calls (-want +got):\n%s", diff)
		}
		// 2 dropped by the full queue, 5 after their retries ran out.
		if diff := cmp.Diff(counts{Dropped: 7, WriteErrors: 9}, c.counts()); diff != "" {
			t.Errorf("counters (-want +got):\n%s", diff)
		}
	})
}

// Close gives up when its context ends; the writer still stops once the
// sink answers.
func TestCloseTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		sink := newSink()
		sink.release = make(chan struct{})
		w := audit.NewWriter(audit.Config{BatchSize: 1}, sink, discard, audit.Counters{})
		w.Record(event(0))
		w.Record(event(1))
		synctest.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close with a stuck sink = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Close returned after %v, want 1s", d)
		}

		close(sink.release)
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, written := sink.snapshot()
		if diff := cmp.Diff(idRange(0, 2), written); diff != "" {
			t.Errorf("written (-want +got):\n%s", diff)
		}
	})
}
