// Package audit writes audit events to the store asynchronously, in
// batches, off the request path: recording an event never blocks or fails a
// response. A full queue drops the event and counts it.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Sink is where batches go; store.Store satisfies it.
type Sink interface {
	InsertAuditEvents(ctx context.Context, events []v1.AuditEvent) error
}

// Counters receive the writer's outcomes; any may be nil.
type Counters struct {
	Written, Dropped, WriteErrors interface{ Add(float64) }
}

// Config tunes a Writer; zero fields take the defaults.
type Config struct {
	// QueueSize bounds the events waiting to be written; default 10000.
	QueueSize int
	// BatchSize is the most events one write carries; default 500.
	BatchSize int
	// FlushInterval is the longest an event waits for a batch; default 100ms.
	FlushInterval time.Duration
	// Retries is how many times a failed batch is retried before its
	// events are dropped; default 3.
	Retries int
	// RetryBackoff is the wait before the first retry, doubled each time;
	// default 200ms.
	RetryBackoff time.Duration
}

// Writer batches events into a Sink.
type Writer struct {
	cfg      Config
	sink     Sink
	log      *slog.Logger
	counters Counters

	queue chan v1.AuditEvent
	done  chan struct{}
	stop  chan struct{}
	once  sync.Once

	// dropped counts events lost since the last warning; lastWarn is the
	// UnixNano of that warning, so a flood logs one line per 10 s.
	dropped  atomic.Int64
	lastWarn atomic.Int64
	closed   atomic.Bool
}

// NewWriter starts the background writer; call Close to flush and stop it.
func NewWriter(cfg Config, sink Sink, log *slog.Logger, c Counters) *Writer {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	w := &Writer{cfg: cfg, sink: sink, log: log, counters: c,
		queue: make(chan v1.AuditEvent, cfg.QueueSize), done: make(chan struct{}), stop: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e without blocking; it reports false when the queue was
// full and the event was dropped.
func (w *Writer) Record(e v1.AuditEvent) bool {
	if w.closed.Load() {
		// Nothing drains the queue any more.
		add(w.counters.Dropped, 1)
		w.log.Warn("audit event after shutdown dropped", "action", e.Action, "request_id", e.RequestID)
		return false
	}
	select {
	case w.queue <- e:
		return true
	default:
		add(w.counters.Dropped, 1)
		w.dropped.Add(1)
		now, last := time.Now().UnixNano(), w.lastWarn.Load()
		if now-last > int64(10*time.Second) && w.lastWarn.CompareAndSwap(last, now) {
			w.log.Warn("audit queue full: events dropped; raise MCPD_AUDIT_QUEUE_SIZE or check the store",
				"dropped", w.dropped.Swap(0), "queue_size", w.cfg.QueueSize)
		}
		return false
	}
}

// Depth is the number of events waiting.
func (w *Writer) Depth() int { return len(w.queue) }

// Close stops the writer, writes everything queued,
// and returns when done or when ctx ends (what is left is dropped and
// logged).
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { w.closed.Store(true); close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.log.Warn("audit flush cut short at shutdown", "pending", len(w.queue), "err", ctx.Err())
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]v1.AuditEvent, 0, w.cfg.BatchSize)
	ticker := time.NewTicker(w.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case e := <-w.queue:
			batch = w.appendEvent(batch, e)
		case <-ticker.C:
			// Take what arrived without waiting, then write.
			batch = w.drainInto(batch)
		case <-w.stop:
			for {
				batch = w.drainInto(batch)
				if len(w.queue) == 0 {
					return
				}
			}
		}
	}
}

// appendEvent adds e to batch, writing the batch once it is full.
func (w *Writer) appendEvent(batch []v1.AuditEvent, e v1.AuditEvent) []v1.AuditEvent {
	batch = append(batch, e)
	if len(batch) >= w.cfg.BatchSize {
		return w.write(batch)
	}
	return batch
}

// drainInto moves queued events into batches and writes them.
func (w *Writer) drainInto(batch []v1.AuditEvent) []v1.AuditEvent {
	for {
		select {
		case e := <-w.queue:
			batch = w.appendEvent(batch, e)
		default:
			return w.write(batch)
		}
	}
}

// write stores batch, retrying with backoff, and returns it emptied.
func (w *Writer) write(batch []v1.AuditEvent) []v1.AuditEvent {
	if len(batch) == 0 {
		return batch
	}
	backoff := w.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.sink.InsertAuditEvents(ctx, batch)
		cancel()
		if err == nil {
			add(w.counters.Written, float64(len(batch)))
			return batch[:0]
		}
		add(w.counters.WriteErrors, 1)
		if attempt >= w.cfg.Retries {
			w.log.Warn("audit events dropped: the store refused them", "events", len(batch), "attempts", attempt+1, "err", err)
			add(w.counters.Dropped, float64(len(batch)))
			return batch[:0]
		}
		w.log.Warn("audit write failed; retrying", "events", len(batch), "attempt", attempt+1, "retry_in", backoff, "err", err)
		time.Sleep(backoff)
		backoff *= 2
	}
}

func add(c interface{ Add(float64) }, n float64) {
	if c != nil {
		c.Add(n)
	}
}
