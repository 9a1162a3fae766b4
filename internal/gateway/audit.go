package gateway

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// principalKey is where the Edge leaves the principal in the token info
// the SDK hands to every request.
const principalKey = "mcpctl.principal"

// PrincipalOf returns the principal of a request the Edge let in; it is
// "anonymous" when the endpoint has no authentication.
func PrincipalOf(extra *mcp.RequestExtra) Principal {
	if extra != nil && extra.TokenInfo != nil {
		if p, ok := extra.TokenInfo.Extra[principalKey].(Principal); ok {
			return p
		}
	}
	return Principal{Subject: "anonymous"}
}

// record counts a call and sends its audit event.
func (g *Gateway) record(extra *mcp.RequestExtra, project string, r ref, method string, start time.Time, outcome string, denied bool, detail, session string) {
	g.recordAs(PrincipalOf(extra), project, r, method, start, outcome, denied, detail, session)
}

// recordAs is record for a principal known already (the relay's).
func (g *Gateway) recordAs(p Principal, project string, r ref, method string, start time.Time, outcome string, denied bool, detail, session string) {
	d := time.Since(start)
	g.metrics.observe(project, r.server, method, outcome, d)
	g.audit.Record(CallEvent{Time: start, Principal: p, Project: project, Server: r.server, Name: r.name,
		Method: method, Duration: d, Outcome: outcome, Denied: denied, Detail: detail, SessionID: session})
}
