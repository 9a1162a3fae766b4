package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func testMCPSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.MCPSession{ID: "s1", Project: "p", Subject: "User:a@b.c", Version: "2025-11-25", Init: `{"protocolVersion":"2025-11-25"}`,
		Node: "n1", CreatedAt: t0, LastSeen: t0}
	b := a
	b.ID, b.LastSeen = "s2", t0.Add(time.Hour)
	for _, x := range []store.MCPSession{a, b} {
		if err := s.PutMCPSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetMCPSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("GetMCPSession (-want +got):\n%s", diff)
	}
	// Another replica takes it over: the record is replaced.
	a.Node, a.LastSeen = "n2", t0.Add(time.Minute)
	if err := s.PutMCPSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetMCPSession(ctx, "s1"); got.Node != "n2" || !got.LastSeen.Equal(a.LastSeen) {
		t.Errorf("after put over: %+v", got)
	}
	// A touch never moves last_seen back.
	if err := s.TouchMCPSession(ctx, "s1", t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetMCPSession(ctx, "s1"); !got.LastSeen.Equal(a.LastSeen) {
		t.Errorf("touch moved last_seen back to %v", got.LastSeen)
	}
	if err := s.TouchMCPSession(ctx, "s1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetMCPSession(ctx, "s1"); !got.LastSeen.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("touch: last_seen %v", got.LastSeen)
	}
	// Idle records go; s2 (seen later) stays.
	if err := s.DeleteMCPSessions(ctx, nil, t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMCPSession(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("idle record kept: %v", err)
	}
	if err := s.DeleteMCPSessions(ctx, []string{"s2", "nope"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMCPSession(ctx, "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted record kept: %v", err)
	}
}

func testAuditCalls(t *testing.T, s store.Store) {
	ctx := context.Background()
	ev := v1.AuditEvent{Time: t0, Principal: "McpToken:aa", Action: "mcp.tools/call", Method: "MCP", Path: "/projects/p/mcp", Status: 200,
		TokenName: "ci", TokenSHA: "aa", Project: "p", Server: "fs", Tool: "read", Outcome: "denied", Denied: true, Detail: `{"path":"string"}`}
	other := ev
	other.Project, other.Tool, other.Denied, other.Outcome = "q", "write", false, "ok"
	if err := s.InsertAuditEvents(ctx, []v1.AuditEvent{ev, other}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAuditEvents(ctx, store.AuditFilter{Project: "p", Tool: "read"})
	if err != nil || len(got) != 1 {
		t.Fatalf("audit by project and tool: %+v %v", got, err)
	}
	got[0].ID = 0
	if diff := cmp.Diff(ev, got[0]); diff != "" {
		t.Errorf("MCP call event (-want +got):\n%s", diff)
	}
}
