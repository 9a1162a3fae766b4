package instance

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
)

// BenchmarkPipeFlood stores 200,000 log lines written as fast as one
// reader can: the pipeline and SQLite, without a server or HTTP.
func BenchmarkPipeFlood(b *testing.B) {
	for range b.N {
		st, _ := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(b.TempDir(), "m.db")})
		p, _ := newLogPipe(context.Background(), "id", st, slog.New(slog.DiscardHandler), 1000000, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); p.run(ctx) }()
		t0 := time.Now()
		for range 200000 {
			p.add(workload.Line{Time: time.Now(), Stream: "stderr", Text: "line 000000000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})
		}
		cancel()
		<-done
		b.ReportMetric(200000/time.Since(t0).Seconds(), "lines/s")
		st.Close()
	}
}
