package docker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/mcpctl/mcpctl/internal/workload"
)

// maxLine is the longest log line delivered whole; longer ones are split,
// as the process runtime splits them.
const maxLine = 64 << 10

// resumeDelay is how long the follower waits before following again a log
// whose stream broke while the container still runs (an engine restart
// with live-restore).
const resumeDelay = time.Second

// followLogs starts the goroutine that delivers inst's log to log, from
// since on (all of it when since is zero). It must run before inst is
// tracked, so that release always finds a follower to wait for.
func (r *Runtime) followLogs(inst *instance, log workload.LogFunc, since time.Time) {
	if log == nil {
		close(inst.logsDone)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancelLogs = cancel
	go r.follow(ctx, inst, log, since)
}

// follow follows the container's log until its end: the engine ends the
// stream when the container stops. A stream that ends while the container
// still runs is followed again from the last line delivered.
func (r *Runtime) follow(ctx context.Context, inst *instance, log workload.LogFunc, since time.Time) {
	defer close(inst.logsDone)
	lines := &lineWriter{log: log}
	defer lines.flush()
	cur := cursor{at: since}
	for {
		cur.start()
		opts := client.ContainerLogsOptions{
			// stdout of a STDIO server is MCP, not log.
			ShowStdout: inst.transport != transportStdio,
			ShowStderr: true,
			Follow:     true,
			Timestamps: true,
		}
		if !cur.at.IsZero() {
			opts.Since = cur.at.UTC().Format(time.RFC3339Nano)
		}
		rc, err := r.cli.ContainerLogs(ctx, inst.cid, opts)
		if err != nil && !isUnreachable(err) {
			return // the container is gone, or its log driver cannot be read
		}
		if err == nil {
			_ = readLog(rc, lines, &cur) // an error ends the stream like its end does
			rc.Close()
		}
		if ctx.Err() != nil || isClosed(inst.quit) {
			return
		}
		res, err := r.cli.ContainerInspect(ctx, inst.cid, client.ContainerInspectOptions{})
		if err == nil && (res.Container.State == nil || !res.Container.State.Running) {
			return // the end of the log
		}
		if err != nil && !isUnreachable(err) {
			return
		}
		t := time.NewTimer(resumeDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-inst.quit:
		}
		t.Stop()
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// cursor skips what was delivered already when a stream is (re)opened:
// the engine's since is inclusive and has one timestamp per frame, and
// several frames may share one (the pieces of a line longer than 16 KiB;
// lines of the two streams, stamped in their own goroutines). So it counts
// the frames delivered at the last timestamp, and on a new stream skips
// the frames before it and that many at it; after the first frame it
// delivers, it skips nothing. On the first stream of Adopt, at is Since
// and n is 0: lines at Since itself are delivered (one may repeat the last
// stored line; none is lost).
type cursor struct {
	at       time.Time
	n        int // frames delivered with timestamp at
	resuming bool
	seen     int // frames at `at` skipped on this stream
}

// start begins a new stream.
func (c *cursor) start() { c.resuming, c.seen = true, 0 }

func (c *cursor) skip(t time.Time) bool {
	if !c.resuming {
		return false
	}
	if t.Before(c.at) {
		return true
	}
	if t.Equal(c.at) && c.seen < c.n {
		c.seen++
		return true
	}
	c.resuming = false
	return false
}

func (c *cursor) delivered(t time.Time) {
	if t.Equal(c.at) {
		c.n++
		return
	}
	c.at, c.n = t, 1
}

// readLog reads one log stream of the engine: frames of one message each
// (a line, or a piece of a line longer than the engine's 16 KiB), each
// starting with its RFC 3339 timestamp and a space.
func readLog(rc io.Reader, lines *lineWriter, cur *cursor) error {
	br := bufio.NewReaderSize(rc, 32<<10)
	var buf []byte
	for {
		stream, payload, err := readFrame(br, &buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var name string
		switch stream {
		case streamStdout:
			name = workload.Stdout
		case streamStderr:
			name = workload.Stderr
		case streamSystemErr:
			return fmt.Errorf("docker engine: %s", payload)
		default:
			continue
		}
		t, text, ok := splitTimestamp(payload)
		if ok {
			if cur.skip(t) {
				continue
			}
			cur.delivered(t)
		}
		lines.write(name, t, text)
	}
}

// splitTimestamp splits "2006-01-02T15:04:05.999999999Z text" into the
// time and the text; without a timestamp the time is now.
func splitTimestamp(payload []byte) (time.Time, []byte, bool) {
	if i := bytes.IndexByte(payload, ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(payload[:i])); err == nil {
			return t.UTC(), payload[i+1:], true
		}
	}
	return time.Now().UTC(), payload, false
}

// lineWriter turns pieces of text into whole lines, per stream, and
// delivers them in order.
type lineWriter struct {
	log  workload.LogFunc
	pend [2]pendingLine // stdout, stderr
}

type pendingLine struct {
	stream string
	t      time.Time // of the line's first piece
	b      []byte
}

func (w *lineWriter) write(stream string, t time.Time, text []byte) {
	p := &w.pend[0]
	if stream == workload.Stderr {
		p = &w.pend[1]
	}
	p.stream = stream
	for len(text) > 0 {
		chunk, rest, eol := bytes.Cut(text, []byte{'\n'})
		if len(p.b) == 0 {
			p.t = t
		}
		p.b = append(p.b, chunk...)
		for len(p.b) >= maxLine && (len(p.b) > maxLine || !eol) {
			w.emit(p.stream, p.t, p.b[:maxLine])
			p.b = append(p.b[:0], p.b[maxLine:]...)
			p.t = t
		}
		if !eol {
			return
		}
		w.emit(p.stream, p.t, p.b)
		p.b = p.b[:0]
		text = rest
	}
}

// flush delivers what is left: a last line without its line break.
func (w *lineWriter) flush() {
	for i := range w.pend {
		p := &w.pend[i]
		if len(p.b) > 0 {
			w.emit(p.stream, p.t, p.b)
			p.b = p.b[:0]
		}
	}
}

func (w *lineWriter) emit(stream string, t time.Time, b []byte) {
	w.log(workload.Line{Time: t, Stream: stream, Text: string(b)})
}

// drainLogs waits, boundedly, for the follower of a stopped container to
// reach the end of its log, then stops it. Afterwards the instance's
// LogFunc is not called again.
func (r *Runtime) drainLogs(ctx context.Context, inst *instance) {
	t := time.NewTimer(logDrainTimeout)
	select {
	case <-inst.logsDone:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	inst.cancelLogs()
	<-inst.logsDone
}
