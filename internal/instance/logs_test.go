package instance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// logStore is a fake of the three store methods the pipe uses; block
// makes AppendLogs hang until released (a store that is down).
type logStore struct {
	store.Store
	mu     sync.Mutex
	lines  []v1.LogLine
	trims  []int64
	block  chan struct{}
	writes int
}

func (s *logStore) LastLogSeq(context.Context, string) (int64, error) { return 0, nil }

func (s *logStore) AppendLogs(ctx context.Context, _ string, lines []v1.LogLine) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, lines...)
	s.writes++
	return nil
}

func (s *logStore) TrimLogs(_ context.Context, _ string, upTo int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trims = append(s.trims, upTo)
	return nil
}

func (s *logStore) stored() []v1.LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]v1.LogLine(nil), s.lines...)
}

func runPipe(t *testing.T, st *logStore, retention int) (*logPipe, func()) {
	t.Helper()
	p, err := newLogPipe(t.Context(), "id", st, slog.New(slog.DiscardHandler), retention, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	return p, func() { cancel(); <-done }
}

// A fast burst larger than the buffer is slowed down, not dropped.
func TestLogPipeBacksPressureWithoutLoss(t *testing.T) {
	st := &logStore{}
	p, stop := runPipe(t, st, 1000000)
	const n = 3 * maxBufLines
	for i := range n {
		p.add(workload.Line{Time: time.Now(), Stream: "stderr", Text: "x"})
		_ = i
	}
	stop()
	got := st.stored()
	if len(got) != n {
		t.Fatalf("stored %d lines, want %d (none dropped)", len(got), n)
	}
	for i, l := range got {
		if l.Seq != int64(i+1) {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
}

// A store that hangs: after maxWait lines are dropped (the server is not
// stalled for ever), and a note says how many once the store is back.
func TestLogPipeDropsWhenTheStoreHangs(t *testing.T) {
	st := &logStore{block: make(chan struct{})}
	p, stop := runPipe(t, st, 1000000)
	// One batch hangs in the store, the buffer fills behind it, and
	// what comes after waits maxWait once, then is dropped.
	const n = 2*maxBufLines + 500
	begin := time.Now()
	for range n {
		p.add(workload.Line{Time: time.Now(), Stream: "stderr", Text: "x"})
	}
	if took := time.Since(begin); took < maxWait || took > 10*maxWait {
		t.Errorf("adding past a full buffer took %v, want about %v (one wait, then drops)", took, maxWait)
	}
	close(st.block)
	stop()
	got := st.stored()
	var kept, dropped int
	for _, l := range got {
		if l.Stream == StreamMcpd {
			if _, err := fmt.Sscanf(l.Line, "[mcpd: %d log lines dropped", &dropped); err != nil {
				t.Errorf("note %q: %v", l.Line, err)
			}
			continue
		}
		kept++
	}
	if dropped < 500 || kept+dropped != n || kept > 2*maxBufLines {
		t.Errorf("kept %d, dropped %d of %d: want at most two buffers kept and the rest counted as dropped", kept, dropped, n)
	}
}

// Retention trims in steps, keeping at least the last retention lines.
func TestLogPipeTrims(t *testing.T) {
	st := &logStore{}
	p, stop := runPipe(t, st, 1000)
	for range 5000 {
		p.add(workload.Line{Time: time.Now(), Stream: "stderr", Text: "x"})
	}
	stop()
	if len(st.trims) == 0 {
		t.Fatal("never trimmed")
	}
	for _, upTo := range st.trims {
		if upTo > 5000-1000 {
			t.Errorf("trimmed up to %d: fewer than 1000 lines kept", upTo)
		}
	}
	if last := st.trims[len(st.trims)-1]; last < 5000-1000-100 {
		t.Errorf("last trim up to %d: more than retention + 10%% kept", last)
	}
}
