package apiserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mcpctl/mcpctl/internal/config"
	"strings"
	"testing"
)

// BenchmarkListServers measures one page of GET /api/v1/servers over
// 10,000 stored servers, through the whole middleware stack.
func BenchmarkListServers(b *testing.B) {
	e := newEnv(b, func(su *setup) { su.cfg.RateLimit = config.Rate{} })
	tok := e.login(b, aliceEmail, alicePassword)
	for batch := range 10 {
		var objs []string
		for i := range 1000 {
			objs = append(objs, fmt.Sprintf(`{"kind":"Server","metadata":{"name":"server-%05d","labels":{"team":"t%d"}},"spec":{"command":"npx","args":["-y","@example/mcp-server-%d"],"env":[{"name":"LOG_LEVEL","value":"info"}]}}`, batch*1000+i, i%5, i))
		}
		r := e.do(b, req{method: "POST", path: "/api/v1/apply", body: `{"objects":[` + strings.Join(objs, ",") + `]}`, token: tok})
		if r.status != 200 {
			b.Fatalf("apply: %d %s", r.status, r.body)
		}
	}
	for _, q := range []string{"limit=100", "limit=100&labelSelector=team=t3"} {
		b.Run(q, func(b *testing.B) {
			hr := httptest.NewRequest("GET", "/api/v1/servers?"+q, nil)
			hr.Header.Set("Authorization", "Bearer "+tok)
			for b.Loop() {
				w := httptest.NewRecorder()
				e.api.ServeHTTP(w, hr)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
