// Package gateway is the MCP engine behind every project endpoint: one
// library, three wirings (mcpd, mcplocal, mcplocal standalone), as in
// DESIGN.md §2.
//
//	downstream clients                    the engine                          upstream servers
//	──────────────────      ┌──────────────────────────────────────┐      ────────────────
//	2025-11-25 session ───▶ │ Edge (edge.go): Origin/Host, auth,     │
//	  (Mcp-Session-Id)      │  version, body limit, session table    │
//	2026-07-28 request ───▶ │  (idle expiry, per-principal limit,    │
//	  (stateless)           │  records for another replica)          │
//	                        │            │                           │
//	                        │            ▼                           │
//	                        │ view (view.go): one mcp.Server per     │ ◀── lists (cached,
//	                        │  project; its registry is the merge of │     positive and
//	                        │  the servers' lists, names namespaced  │     negative TTL)
//	                        │  (names.go), filters applied           │
//	                        │            │ tools/call, prompts/get…  │
//	                        │            ▼                           │
//	                        │ calls (call.go): route to the shared   │ ──▶ shared session
//	                        │  upstream or the client's own; rewrite │     (UpstreamDialer)
//	                        │  progress tokens; time out unless      │ ──▶ per-session
//	                        │  progress; cap answers; audit          │     session/process
//	                        │            ▲                           │
//	                        │ links (link.go): notifications and     │ ◀── progress, logs,
//	                        │  server→client requests routed back to │     list_changed,
//	                        │  the one client they belong to         │     sampling, …
//	                        └──────────────────────────────────────┘
//
// The engine needs four things, each an interface: a ProjectSource (the
// project's servers, filters, prompts), an UpstreamDialer (MCP sessions to
// the servers), an Authenticator (bearer → principal and the project it may
// reach) and an AuditSink (one event per call).
//
// Upstream sessions speak the session era (2025-11-25): every server in
// the field does, and server→client requests (sampling, elicitation,
// roots) then arrive as requests the gateway can attribute and forward.
// Downstream, both eras are served: a 2025-11-25 client gets a session; a
// 2026-07-28 client's requests are served statelessly.
package gateway
