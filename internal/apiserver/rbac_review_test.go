package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// TestNoTakeoverPaths: the ways a right could change hands without the
// ceiling: creating a user an admin group or a definition already names,
// guessing a secret value through "unchanged", a token minting tokens,
// replacing a token with create only, and bindings on prompts of another
// project.
func TestNoTakeoverPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Project", "demo", `{}`), doc("Project", "other", `{}`),
		promptDoc("demo", "intro", "hello"), promptDoc("other", "intro", "hello"),
		doc("Secret", "gh", `{"data":{"TOKEN":"s3cret-42"}}`),
		// future@ is in the admin group and named by a definition before
		// the user exists.
		doc("Group", "admin", `{"members":["`+aliceEmail+`","`+bobEmail+`","future@example.com"]}`),
		rbacDoc(t, "later", []string{"User:later@example.com"}, "role:edit,resource:servers"),
	))
	e.createUser(t, alice, carolEmail, carolPassword)
	e.mustWith(t, alice, 201, "POST", "/api/v1/rbacdefinitions", rbacDoc(t, "carol", []string{"User:" + carolEmail},
		"role:create,resource:users", "role:view,resource:secrets", "role:create,resource:mcptokens",
		"role:view,resource:prompts,project:demo", "role:view,resource:projects"))
	carol := e.login(t, carolEmail, carolPassword)

	t.Run("creating a user the admin group names", func(t *testing.T) {
		r := e.with(t, carol, "POST", "/api/v1/users", `{"email":"future@example.com","password":"my-own-password"}`)
		checkStatus(t, r, 403, "only an admin can create the user future@example.com")
		r = e.with(t, carol, "POST", "/api/v1/users", `{"email":"later@example.com","password":"my-own-password"}`)
		checkStatus(t, r, 403, "role:edit,resource:servers")
		e.mustWith(t, carol, 201, "POST", "/api/v1/users", `{"email":"nobody-yet@example.com","password":"my-own-password"}`)
	})

	t.Run("guessing a secret value", func(t *testing.T) {
		for _, guess := range []string{"wrong", "s3cret-42"} {
			body := `{"dryRun":true,"objects":[` + doc("Secret", "gh", `{"data":{"TOKEN":"`+guess+`"}}`) + `]}`
			checkStatus(t, e.with(t, carol, "POST", "/api/v1/apply", body), 403, "edit secrets/gh")
		}
		// Values left null are not a guess: view is enough to see "unchanged".
		r := e.mustWith(t, carol, 200, "POST", "/api/v1/apply", `{"dryRun":true,"objects":[`+doc("Secret", "gh", `{"data":{"TOKEN":null}}`)+`]}`)
		var out v1.ApplyResponse
		json.Unmarshal(r.body, &out)
		if out.Results[0].Action != v1.ActionUnchanged {
			t.Errorf("redacted apply: %+v", out.Results)
		}
	})

	t.Run("a token does not mint tokens", func(t *testing.T) {
		parent := e.createMcpToken(t, alice, "demo", `{"name":"parent","spec":{"rbac":"clone"}}`)
		checkStatus(t, e.with(t, parent.Token, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"child","spec":{"rbac":"clone","ttl":"never"}}`),
			403, "an McpToken cannot create McpTokens")
	})

	t.Run("force needs delete", func(t *testing.T) {
		old := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"}}`)
		checkStatus(t, e.with(t, carol, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"ci","force":true}`), 403, "role:delete,resource:mcptokens,project:demo,name:ci")
		e.mustWith(t, old.Token, 200, "GET", "/api/v1/projects/demo", "")
		e.mustWith(t, alice, 200, "POST", "/api/v1/projects/demo/mcptokens/ci/revoke", "")
		// A revoked record is not replaced without delete either.
		checkStatus(t, e.with(t, carol, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"ci"}`), 403, "role:delete,resource:mcptokens")
		if got := e.getMcpToken(t, alice, "demo", "ci"); got.Status.State != v1.TokenRevoked {
			t.Errorf("the revoked record: %+v", got.Status)
		}
	})

	t.Run("bindings limited to a project", func(t *testing.T) {
		e.mustWith(t, carol, 200, "GET", "/api/v1/projects/demo/prompts/intro", "")
		checkStatus(t, e.with(t, carol, "GET", "/api/v1/projects/other/prompts/intro", ""), 403, "role:view,resource:prompts,project:other,name:intro")
		if got := e.listedIDs(t, carol, "/api/v1/prompts"); len(got) != 1 || got[0] != "prompt/demo/intro" {
			t.Errorf("prompts carol lists: %v", got)
		}
		checkStatus(t, e.with(t, alice, "POST", "/api/v1/rbacdefinitions",
			doc("RbacDefinition", "bad", `{"subjects":["User:`+carolEmail+`"],"roleBindings":[{"role":"view","resource":"servers","project":"demo"}]}`)),
			400, "limits only project-scoped resources")
	})

	t.Run("no right, no answer about existence", func(t *testing.T) {
		e.createUser(t, alice, daveEmail, davePassword)
		d := e.login(t, daveEmail, davePassword)
		for _, body := range []string{
			doc("Secret", "gh", `{"data":{"X":"y"}}`),      // exists
			doc("Secret", "missing", `{"data":{"X":"y"}}`), // does not
		} {
			checkStatus(t, e.with(t, d, "POST", "/api/v1/secrets", body), 403, "role:create,resource:secrets")
			checkStatus(t, e.with(t, d, "POST", "/api/v1/apply", applyBody(body)), 403, "role:create,resource:secrets")
		}
	})
}

// TestTokenApplyRoundTrip: what `get mcptokens -o yaml | apply -f -` does:
// existing tokens (active, revoked or expired) are skipped, never brought
// back; --on-conflict fail refuses; labels are refused.
func TestTokenApplyRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(doc("Project", "demo", `{}`)))
	e.createMcpToken(t, alice, "demo", `{"name":"live","spec":{}}`)
	revoked := e.createMcpToken(t, alice, "demo", `{"name":"gone","spec":{}}`)
	e.mustWith(t, alice, 200, "POST", "/api/v1/projects/demo/mcptokens/gone/revoke", "")
	e.createMcpToken(t, alice, "demo", `{"name":"short","spec":{"ttl":"2m"}}`)
	e.clock.Advance(3 * time.Minute)

	r := e.mustWith(t, alice, 200, "GET", "/api/v1/mcptokens", "")
	var list v1.McpTokenList
	json.Unmarshal(r.body, &list)
	var docs []string
	for _, tk := range list.Items {
		b, _ := json.Marshal(tk)
		docs = append(docs, string(b))
	}
	r = e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(docs...))
	var out v1.ApplyResponse
	json.Unmarshal(r.body, &out)
	for _, res := range out.Results {
		if res.Action != v1.ActionSkipped || res.Token != "" {
			t.Errorf("%s: %s (token %q), want skipped with no token", res.ID(), res.Action, res.Token)
		}
	}
	checkStatus(t, e.with(t, revoked.Token, "GET", "/api/v1/projects/demo", ""), 401, "")
	checkStatus(t, e.with(t, alice, "POST", "/api/v1/apply", `{"onConflict":"fail","objects":[`+docs[0]+`]}`), 409, "--on-conflict is fail")
	labelled := `{"kind":"McpToken","metadata":{"name":"x","project":"demo","labels":{"a":"b"}},"spec":{}}`
	checkStatus(t, e.with(t, alice, "POST", "/api/v1/apply", applyBody(labelled)), 400, "an McpToken has no labels")
	past := `{"kind":"McpToken","metadata":{"name":"new","project":"demo"},"spec":{"ttl":"2020-01-01T00:00:00Z"}}`
	checkStatus(t, e.with(t, alice, "POST", "/api/v1/apply", applyBody(past)), 400, "in the past")
}

// TestProjectDeleteWithInactiveTokens: revoked and expired tokens do not
// hold a project back; they go with it.
func TestProjectDeleteWithInactiveTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(doc("Project", "demo", `{}`)))
	e.createMcpToken(t, alice, "demo", `{"name":"gone","spec":{}}`)
	e.mustWith(t, alice, 200, "POST", "/api/v1/projects/demo/mcptokens/gone/revoke", "")
	r := e.mustWith(t, alice, 200, "DELETE", "/api/v1/projects/demo", "")
	var out v1.DeleteResponse
	json.Unmarshal(r.body, &out)
	if len(out.Cascaded) != 1 || out.Cascaded[0].ID() != "mcptoken/demo/gone" {
		t.Errorf("cascaded: %+v", out.Cascaded)
	}
	checkStatus(t, e.with(t, alice, "GET", "/api/v1/projects/demo/mcptokens/gone", ""), http.StatusNotFound, "not found")
}

// TestConcurrentGrantingWrites: writes that read the policy inside their
// transaction (user creation, password resets, group changes by a
// non-admin) do so on the transaction's own connection, so many at once
// neither deadlock nor starve the SQLite pool (8 connections) into
// "database is locked" failures.
func TestConcurrentGrantingWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	const n = 24
	errs := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"email":"user%d@example.com","password":"a-password-%d"}`, i, i)
			if r := e.with(t, alice, "POST", "/api/v1/users", body); r.status != http.StatusCreated {
				errs <- fmt.Sprintf("user %d: %d %s", i, r.status, r.body)
			}
			if r := e.with(t, alice, "PATCH", fmt.Sprintf("/api/v1/users/user%d@example.com", i), `{"password":"another-password"}`); r.status != http.StatusOK {
				errs <- fmt.Sprintf("reset %d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

// TestReferencesNeedView: naming a secret (or any object) in a spec needs
// view on it, so a reference check tells nothing of objects the caller
// may not see; a token's own bindings show in can-i only to a caller who
// may view the token; an expiry more than ten years ahead is refused.
func TestReferencesNeedView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Secret", "prod-db", `{"data":{"PGPASSWORD":"p"}}`), doc("Secret", "public", `{"data":{"K":"v"}}`), doc("Project", "demo", `{}`)))
	e.createUser(t, alice, carolEmail, carolPassword)
	e.mustWith(t, alice, 201, "POST", "/api/v1/rbacdefinitions", rbacDoc(t, "carol", []string{"User:" + carolEmail},
		"role:edit,resource:servers", "role:view,resource:secrets,name:public", "role:view,resource:rbacdefinitions"))
	carol := e.login(t, carolEmail, carolPassword)
	for _, ref := range []string{`{"name":"prod-db","key":"zzz"}`, `{"name":"no-such","key":"K"}`} {
		body := `{"dryRun":true,"objects":[` + doc("Server", "x", `{"command":"npx","env":[{"name":"P","secretRef":`+ref+`}]}`) + `]}`
		r := e.with(t, carol, "POST", "/api/v1/apply", body)
		checkStatus(t, r, 403, "which you may not view")
		if strings.Contains(string(r.body), "PGPASSWORD") || strings.Contains(string(r.body), "does not exist") {
			t.Errorf("the refusal tells about the secret: %s", r.body)
		}
	}
	e.mustWith(t, carol, 201, "POST", "/api/v1/servers", doc("Server", "ok", `{"command":"npx","env":[{"name":"K","secretRef":{"name":"public","key":"K"}}]}`))

	tok := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"}}`)
	checkStatus(t, e.with(t, carol, "GET", "/api/v1/auth/can-i?verb=view&resource=servers&as=McpToken:"+sha256Hex(tok.Token), ""), 404, "no McpToken you may view")
	e.mustWith(t, alice, 200, "GET", "/api/v1/auth/can-i?verb=view&resource=servers&as=McpToken:"+sha256Hex(tok.Token), "")

	far := time.Now().AddDate(11, 0, 0).UTC().Format(time.RFC3339)
	checkStatus(t, e.with(t, alice, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"far","spec":{"ttl":"`+far+`"}}`), 400, "more than ten years ahead")
	checkStatus(t, e.with(t, alice, "POST", "/api/v1/users", `{"email":"`+carolEmail+`","password":"whatever-1234"}`), 409, "already exists")
}
