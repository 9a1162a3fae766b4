package instance

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
)

func TestNotesAreSanitised(t *testing.T) {
	st, err := store.Open(t.Context(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := workload.NewID()
	p, err := newLogPipe(t.Context(), id, st, slog.New(slog.DiscardHandler), 100, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// out.msg of an "unhealthy" outcome carries the server's own error text.
	msg := "3 health probes failed in a row (last: tool t answered an error: \x1b[2J\x1b[H\nFAKE 2026 mcpd: all good)"
	p.note("mcpd: %s; starting again in %s", msg, "1s")
	p.flush()
	lines, _ := st.ReadLogs(context.Background(), store.LogQuery{InstanceID: id})
	for _, l := range lines {
		t.Logf("stored: %q", l.Line)
		if l.Line != Sanitize(l.Line) || strings.ContainsAny(l.Line, "\x1b\n") {
			t.Errorf("stored note is not sanitised: %q", l.Line)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%d lines stored, want the one note", len(lines))
	}
}
