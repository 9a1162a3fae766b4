package apiserver

import (
	"net/http"
	"strings"
	"testing"
)

func TestResourceSmoke(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, aliceEmail, alicePassword)
	apply := `{"objects":[
	 {"kind":"Project","metadata":{"name":"demo"},"spec":{"servers":["memory"]}},
	 {"kind":"Server","metadata":{"name":"memory","labels":{"team":"infra"}},"spec":{"command":"npx","args":["-y","x"],"env":[{"name":"GITHUB_TOKEN","secretRef":{"name":"github","key":"TOKEN"}}]}},
	 {"kind":"Secret","metadata":{"name":"github"},"spec":{"data":{"TOKEN":"ghp_supersecret"}}}
	]}`
	r := e.do(t, req{method: "POST", path: "/api/v1/apply", body: apply, token: tok})
	if r.status != 200 {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	t.Logf("%s", r.body)
	r = e.do(t, req{method: "POST", path: "/api/v1/apply", body: apply, token: tok})
	if r.status != 200 || strings.Count(string(r.body), "unchanged") != 3 {
		t.Fatalf("reapply: %d %s", r.status, r.body)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/secrets/github", token: tok})
	if strings.Contains(string(r.body), "ghp_") {
		t.Fatalf("value leaked: %s", r.body)
	}
	t.Logf("%s", r.body)
	r = e.do(t, req{method: "GET", path: "/api/v1/secrets/github?reveal=true", token: tok})
	if !strings.Contains(string(r.body), "ghp_supersecret") {
		t.Fatalf("reveal: %s", r.body)
	}
	r = e.do(t, req{method: "DELETE", path: "/api/v1/servers/memory", token: tok})
	if r.status != http.StatusConflict {
		t.Fatalf("delete used server: %d %s", r.status, r.body)
	}
	t.Logf("%s", r.body)
	r = e.do(t, req{method: "PATCH", path: "/api/v1/servers/memory", body: `{"spec":{"replicas":3}}`, contentType: "application/merge-patch+json", token: tok})
	if r.status != 200 || !strings.Contains(string(r.body), `"replicas":3`) {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/servers?labelSelector=team=infra", token: tok})
	t.Logf("%s", r.body)
	r = e.do(t, req{method: "DELETE", path: "/api/v1/servers/memory?cascade=true", token: tok})
	if r.status != 200 {
		t.Fatalf("cascade: %d %s", r.status, r.body)
	}
	t.Logf("%s", r.body)
}
