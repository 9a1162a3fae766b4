// Package workload defines how mcpd runs MCP server instances: the Runtime
// interface that every runtime implements, and what it takes and reports.
//
//	         ┌──────────── instance manager (internal/instance) ───────────┐
//	         │ reconciler: replicas, backoff │ health probes │ log pipeline │
//	         └──────────────┬────────────────────────┬──────────┬──────────┘
//	             Start/Stop/Inspect/Wait/List    Connect       Spec.Log
//	                        ▼                        ▼          ▲
//	┌───────────── Runtime ───────────────────────────────────────────────┐
//	│ process: child in its own process group, stdin/stdout = MCP,        │
//	│          stderr = log, SIGTERM → drain → SIGKILL of the group        │
//	│ docker:  labelled container (mcpctl.managed, .instance, .server),   │
//	│          STDIO through attach, HTTP through a loopback port          │
//	└─────────────────────────────────────────────────────────────────────┘
//
// A runtime knows instances only by the instance id (a UUID) the caller
// chose; it never acts on a process or container it did not start (or, for
// adoption after a restart, one that does not carry its marks). Instances
// are owned by a node: the runtime only lists, adopts and stops its own
// node's instances, so that several mcpd processes can share one host.
//
// Every runtime passes the shared conformance suite in
// internal/workload/workloadtest.
package workload
