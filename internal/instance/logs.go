package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// StreamMcpd marks log lines mcpd writes itself (dropped-line notes).
const StreamMcpd = "mcpd"

const (
	// flushEvery is how often buffered lines are written to the store.
	flushEvery = 250 * time.Millisecond
	// maxBufLines and maxBufBytes bound the lines waiting to be stored.
	// When they are full the runtime's reader waits (so a server that logs
	// faster than the store writes is slowed down, as by a terminal) for at
	// most maxWait; after that lines are dropped, and a note says how
	// many, so a store that is down never stalls a server nor grows mcpd:
	// at most two buffers are held, the one being written and the next.
	maxBufLines = 20000
	maxBufBytes = 8 << 20
	maxWait     = time.Second
)

// logPipe numbers, buffers and stores one instance's log lines. add is the
// runtime's LogFunc; run writes batches until its context ends.
type logPipe struct {
	id        string
	st        store.Store
	log       *slog.Logger
	retention int64
	notify    func(id string)
	written   func(n int)

	mu       sync.Mutex
	buf      []v1.LogLine
	bufBytes int
	dropped  int64
	kick     chan struct{} // the buffer got its first line
	full     chan struct{} // the buffer is full enough to write now
	room     chan struct{} // closed (and replaced) when a flush empties buf
	// flushMu makes flushes one at a time (the run loop's, and the
	// runner's before it records a stop); seq and trimmed are theirs.
	flushMu sync.Mutex
	seq     int64 // the newest stored line
	trimmed int64 // lines up to this seq are known to be deleted
}

func newLogPipe(ctx context.Context, id string, st store.Store, log *slog.Logger, retention int, notify func(string), written func(int)) (*logPipe, error) {
	last, err := st.LastLogSeq(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the log position of instance %s: %w", id, err)
	}
	return &logPipe{id: id, st: st, log: log, retention: int64(retention), notify: notify, written: written,
		seq: last, trimmed: max(last-int64(retention), 0), kick: make(chan struct{}, 1), full: make(chan struct{}, 1), room: make(chan struct{})}, nil
}

// add takes one raw line from the runtime.
func (p *logPipe) add(l workload.Line) {
	p.addLine(l.Time, l.Stream, Sanitize(l.Text))
}

// note adds a line of mcpd's own about the instance; its arguments may
// hold the server's words (an error it answered), so it is sanitised too.
func (p *logPipe) note(format string, args ...any) {
	p.addLine(time.Now().UTC(), StreamMcpd, Sanitize(fmt.Sprintf(format, args...)))
}

// lastTime is the time of the newest stored line of the instance's own
// output (mcpd's notes do not count; zero for none): an adopted
// instance's log is read again from there.
func (p *logPipe) lastTime(ctx context.Context) time.Time {
	lines, err := p.st.ReadLogs(ctx, store.LogQuery{InstanceID: p.id, Tail: 100})
	if err != nil {
		return time.Time{}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].Stream != StreamMcpd {
			return lines[i].Time
		}
	}
	return time.Time{}
}

func (p *logPipe) addLine(ts time.Time, stream, text string) {
	p.mu.Lock()
	var deadline <-chan time.Time
	for len(p.buf) >= maxBufLines || p.bufBytes+len(text) > maxBufBytes {
		if p.dropped > 0 {
			// Already dropping: the store is not keeping up; do not wait
			// again for every line.
			p.dropped++
			p.mu.Unlock()
			return
		}
		room := p.room
		p.mu.Unlock()
		signal(p.full)
		if deadline == nil {
			deadline = time.After(maxWait)
		}
		select {
		case <-room:
			p.mu.Lock()
		case <-deadline:
			p.mu.Lock()
			p.dropped++
			p.mu.Unlock()
			return
		}
	}
	p.buf = append(p.buf, v1.LogLine{Time: ts, Stream: stream, Line: text})
	p.bufBytes += len(text) + 64
	first, full := len(p.buf) == 1, p.fullLocked()
	p.mu.Unlock()
	switch {
	case full:
		signal(p.full)
	case first:
		signal(p.kick) // the first line since a flush opens a batch
	}
}

// fullLocked reports whether the buffer holds enough to write at once.
func (p *logPipe) fullLocked() bool { return len(p.buf) >= 1000 || p.bufBytes >= maxBufBytes/4 }

func (p *logPipe) isFull() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fullLocked()
}

// signal sends on a channel of capacity one without waiting.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// number gives batch the seq numbers after last.
func (p *logPipe) number(batch []v1.LogLine, last int64) {
	for i := range batch {
		batch[i].Seq = last + int64(i) + 1
	}
}

// run flushes until ctx ends, then flushes what is left. An idle
// instance costs nothing: run sleeps until a line comes, then gives the
// batch flushEvery to fill (less when it is full). Writes do not take
// ctx: a flush that races the end must not lose its lines.
func (p *logPipe) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.flush()
			return
		case <-p.kick:
		case <-p.full:
		}
		// The full signal may have been taken above, or before the
		// buffer emptied: the buffer itself says whether to wait.
		if !p.isFull() {
			t := time.NewTimer(flushEvery)
			select {
			case <-ctx.Done():
				t.Stop()
				p.flush()
				return
			case <-t.C:
			case <-p.full:
				t.Stop()
			}
		}
		p.flush()
	}
}

func (p *logPipe) flush() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.mu.Lock()
	if p.dropped > 0 {
		p.buf = append(p.buf, v1.LogLine{Time: time.Now().UTC(), Stream: StreamMcpd,
			Line: fmt.Sprintf("[mcpd: %d log lines dropped: the server wrote faster than they could be stored]", p.dropped)})
		p.dropped = 0
	}
	batch := p.buf
	p.buf, p.bufBytes = nil, 0
	close(p.room)
	p.room = make(chan struct{})
	p.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	// Lines are numbered here, by the one goroutine that stores them. If
	// another writer took the same numbers (the node that ran the
	// instance before a takeover, still finishing), renumber after the
	// newest stored line and try once more.
	p.number(batch, p.seq)
	err := p.st.AppendLogs(ctx, p.id, batch)
	if errors.Is(err, store.ErrConflict) {
		if last, lerr := p.st.LastLogSeq(ctx, p.id); lerr == nil {
			p.number(batch, last)
			err = p.st.AppendLogs(ctx, p.id, batch)
		}
	}
	if err != nil {
		// The lines are lost, not retried: a failing store must not make
		// the buffer grow.
		p.log.Warn("instance log lines not stored", "instance", p.id, "lines", len(batch), "err", err)
		return
	}
	last := batch[len(batch)-1].Seq
	p.seq = last
	if p.written != nil {
		p.written(len(batch))
	}
	if p.notify != nil {
		p.notify(p.id)
	}
	// Trim in steps of a tenth of the retention, not on every batch.
	if over := last - p.retention; over > p.trimmed+p.retention/10 {
		if err := p.st.TrimLogs(ctx, p.id, over); err != nil {
			p.log.Warn("instance log not trimmed", "instance", p.id, "err", err)
			return
		}
		p.trimmed = over
	}
}
