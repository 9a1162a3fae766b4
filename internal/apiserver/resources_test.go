package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// client is a logged-in caller of one env's resource API.
type client struct {
	*env
	tok string
}

func newClient(t *testing.T) *client {
	t.Helper()
	e := newEnv(t)
	return &client{env: e, tok: e.login(t, aliceEmail, alicePassword)}
}

// call sends a request with the client's token; a body is sent as
// application/json.
func (c *client) call(t *testing.T, method, path, body string) resp {
	t.Helper()
	return c.do(t, req{method: method, path: path, body: body, token: c.tok})
}

// must is call that fails the test unless the answer has status want.
func (c *client) must(t *testing.T, want int, method, path, body string) resp {
	t.Helper()
	r := c.call(t, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// get reads one object.
func (c *client) get(t *testing.T, path string) v1.Object {
	t.Helper()
	return decodeObj(t, c.must(t, http.StatusOK, "GET", path, "").body)
}

// apply posts the documents as one apply and fails unless it answers 200.
func (c *client) apply(t *testing.T, docs ...string) v1.ApplyResponse {
	t.Helper()
	return c.applyReq(t, `{"objects":[`+strings.Join(docs, ",")+`]}`)
}

func (c *client) applyReq(t *testing.T, body string) v1.ApplyResponse {
	t.Helper()
	r := c.must(t, http.StatusOK, "POST", "/api/v1/apply", body)
	var out v1.ApplyResponse
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decode apply answer %s: %v", r.body, err)
	}
	return out
}

// ids lists one page (up to 1000) of path and returns the objects' ids.
func (c *client) ids(t *testing.T, path string) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	r := c.must(t, http.StatusOK, "GET", path+sep+"limit=1000", "")
	var l v1.ObjectList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode list %s: %v", r.body, err)
	}
	if l.NextCursor != "" {
		t.Errorf("GET %s: nextCursor %q on a page that is not full", path, l.NextCursor)
	}
	return listIDs(l)
}

func listIDs(l v1.ObjectList) []string {
	out := []string{}
	for _, o := range l.Items {
		out = append(out, o.ID())
	}
	return out
}

// checkEmpty fails the test if any kind has an object: what a refused
// write must leave behind.
func (c *client) checkEmpty(t *testing.T) {
	t.Helper()
	for _, k := range v1.Kinds {
		got := c.ids(t, "/api/v1/"+k.Plural)
		if k.Kind == "Group" && len(got) == 1 && got[0] == "group/admin" {
			continue // built in
		}
		if len(got) > 0 {
			t.Errorf("%s: %v stored, want none", k.Plural, got)
		}
	}
}

func decodeObj(t *testing.T, b []byte) v1.Object {
	t.Helper()
	var o v1.Object
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("decode object %s: %v", b, err)
	}
	return o
}

// doc is a resource document; spec is JSON.
func doc(kind, name, spec string) string {
	return `{"apiVersion":"mcpctl/v1","kind":"` + kind + `","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

// promptDoc is a Prompt document of project.
func promptDoc(project, name, text string) string {
	return `{"kind":"Prompt","metadata":{"name":"` + name + `","project":"` + project + `"},"spec":{"text":"` + text + `"}}`
}

// generic turns v into plain JSON values, for comparing JSON documents.
func generic(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return parseJSON(t, string(b))
}

func parseJSON(t *testing.T, s string) any {
	t.Helper()
	var g any
	if err := json.Unmarshal([]byte(s), &g); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return g
}

// checkSpec compares o's spec with the JSON want.
func checkSpec(t *testing.T, o v1.Object, want string) {
	t.Helper()
	if diff := cmp.Diff(parseJSON(t, want), generic(t, o.Spec)); diff != "" {
		t.Errorf("%s spec (-want +got):\n%s", o.ID(), diff)
	}
}

// Every kind goes through the same life: create, read, conflicting
// create, conditional and unconditional update, refused rename, delete.
func TestResourceCRUD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind string
		// coll is the collection path; item paths add /<name>.
		coll string
		// setup documents are applied first.
		setup []string
		// create, update1 and update2 are the specs written in turn;
		// want is the spec as GET shows it after update2.
		create, update1, update2, want string
		project                        string
		missing                        string
	}{
		{
			kind: "Server", coll: "/api/v1/servers",
			create:  `{"command":"npx","args":["-y","@mcp/memory"]}`,
			update1: `{"command":"npx","args":["-y","@mcp/memory"],"replicas":2}`,
			update2: `{"image":"ghcr.io/mcp/memory:1","replicas":3}`,
			want:    `{"transport":"stdio","image":"ghcr.io/mcp/memory:1","replicas":3,"runtime":"docker","sessionMode":"shared"}`,
			missing: "server/nope not found",
		},
		{
			kind: "Secret", coll: "/api/v1/secrets",
			create:  `{"data":{"TOKEN":"one"}}`,
			update1: `{"data":{"TOKEN":"two"}}`,
			update2: `{"data":{"TOKEN":"two","USER":"bob"}}`,
			want:    `{"data":{"TOKEN":null,"USER":null}}`,
			missing: "secret/nope not found",
		},
		{
			kind: "Template", coll: "/api/v1/templates",
			create:  `{"inputs":[{"name":"DIR","required":true}],"server":{"command":"npx","args":["${DIR}"]}}`,
			update1: `{"description":"files","inputs":[{"name":"DIR","required":true}],"server":{"command":"npx","args":["${DIR}"]}}`,
			update2: `{"inputs":[{"name":"DIR","default":"/tmp"}],"server":{"command":"uvx","args":["fs","${DIR}"]}}`,
			want: `{"inputs":[{"name":"DIR","default":"/tmp"}],` +
				`"server":{"transport":"stdio","command":"uvx","args":["fs","${DIR}"],"replicas":1,"runtime":"process","sessionMode":"shared"}}`,
			missing: "template/nope not found",
		},
		{
			kind: "Project", coll: "/api/v1/projects",
			create:  `{"description":"one"}`,
			update1: `{"description":"two"}`,
			update2: `{"description":"three","gated":true,"separator":"."}`,
			want:    `{"description":"three","gated":true,"separator":"."}`,
			missing: "project/nope not found",
		},
		{
			kind: "Prompt", coll: "/api/v1/projects/demo/prompts", project: "demo",
			setup:   []string{doc("Project", "demo", `{}`)},
			create:  `{"text":"hello"}`,
			update1: `{"text":"hello","priority":7}`,
			update2: `{"text":"bye","tags":["greeting"]}`,
			want:    `{"text":"bye","priority":5,"tags":["greeting"]}`,
			missing: "prompt/demo/nope not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			if len(tt.setup) > 0 {
				c.apply(t, tt.setup...)
			}
			item := tt.coll + "/one"
			// The bodies name no project: the path does. The create
			// body below names no kind either.
			body := func(name, rv, spec string) string {
				md := `{"name":"` + name + `"`
				if rv != "" {
					md += `,"resourceVersion":"` + rv + `"`
				}
				return `{"kind":"` + tt.kind + `","metadata":` + md + `},"spec":` + spec + `}`
			}

			r := c.must(t, http.StatusCreated, "POST", tt.coll, `{"metadata":{"name":"one"},"spec":`+tt.create+`}`)
			created := decodeObj(t, r.body)
			wantMeta := v1.ObjectMeta{Name: "one", Project: tt.project, CreatedAt: &t0, UpdatedAt: &t0, ResourceVersion: "1"}
			if diff := cmp.Diff(wantMeta, created.Metadata); diff != "" {
				t.Errorf("created metadata (-want +got):\n%s", diff)
			}
			if created.Kind != tt.kind || created.APIVersion != v1.APIVersion {
				t.Errorf("created kind %q apiVersion %q, want %q %q", created.Kind, created.APIVersion, tt.kind, v1.APIVersion)
			}
			if diff := cmp.Diff(generic(t, created), generic(t, c.get(t, item))); diff != "" {
				t.Errorf("GET after create differs from the create answer (-create +get):\n%s", diff)
			}

			r = c.call(t, "POST", tt.coll, body("one", "", tt.create))
			checkError(t, r, errView{http.StatusConflict, v1.CodeConflict, nil}, "already exists")

			c.clock.Advance(time.Minute)
			r = c.must(t, http.StatusOK, "PUT", item, body("one", "1", tt.update1))
			if got := decodeObj(t, r.body).Metadata.ResourceVersion; got != "2" {
				t.Errorf("resourceVersion after a conditional update = %q, want 2", got)
			}

			r = c.call(t, "PUT", item, body("one", "1", tt.update2))
			checkError(t, r, errView{http.StatusConflict, v1.CodeConflict, nil}, "was changed since you read it")

			c.clock.Advance(time.Minute)
			r = c.must(t, http.StatusOK, "PUT", item, body("one", "", tt.update2))
			if got := decodeObj(t, r.body).Metadata.ResourceVersion; got != "3" {
				t.Errorf("resourceVersion after an unconditional update = %q, want 3", got)
			}
			got := c.get(t, item)
			checkSpec(t, got, tt.want)
			updated := t0.Add(2 * time.Minute)
			wantMeta = v1.ObjectMeta{Name: "one", Project: tt.project, CreatedAt: &t0, UpdatedAt: &updated, ResourceVersion: "3"}
			if diff := cmp.Diff(wantMeta, got.Metadata); diff != "" {
				t.Errorf("metadata after updates (-want +got):\n%s", diff)
			}

			r = c.call(t, "PUT", item, body("two", "", tt.update2))
			checkError(t, r, errView{http.StatusBadRequest, v1.CodeValidationFailed, []string{"metadata.name"}}, "cannot be changed")

			r = c.call(t, "GET", tt.coll+"/nope", "")
			checkError(t, r, errView{http.StatusNotFound, v1.CodeNotFound, nil}, tt.missing)
			r = c.call(t, "PUT", tt.coll+"/nope", body("nope", "", tt.update2))
			checkError(t, r, errView{http.StatusNotFound, v1.CodeNotFound, nil}, tt.missing)
			r = c.call(t, "PATCH", tt.coll+"/nope", "{}")
			checkError(t, r, errView{http.StatusNotFound, v1.CodeNotFound, nil}, tt.missing)
			r = c.call(t, "DELETE", tt.coll+"/nope", "")
			checkError(t, r, errView{http.StatusNotFound, v1.CodeNotFound, nil}, tt.missing)

			r = c.must(t, http.StatusOK, "DELETE", item, "")
			var del v1.DeleteResponse
			if err := json.Unmarshal(r.body, &del); err != nil {
				t.Fatalf("decode delete answer: %v", err)
			}
			wantDel := v1.DeleteResponse{Deleted: v1.ApplyResult{Kind: tt.kind, Name: "one", Project: tt.project, Action: v1.ActionDeleted, ResourceVersion: "3"}}
			if diff := cmp.Diff(wantDel, del); diff != "" {
				t.Errorf("delete answer (-want +got):\n%s", diff)
			}
			checkError(t, c.call(t, "GET", item, ""), errView{http.StatusNotFound, v1.CodeNotFound, nil}, "not found")
			checkError(t, c.call(t, "DELETE", item, ""), errView{http.StatusNotFound, v1.CodeNotFound, nil}, "not found")
		})
	}
}

// The path and the body must agree on what is written.
func TestResourceBodyAndPath(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t, doc("Project", "demo", `{}`), doc("Project", "other", `{}`))
	tests := []struct {
		name, method, path, body string
		want                     errView
		msg                      string
	}{
		{"kind of another endpoint", "POST", "/api/v1/servers", doc("Secret", "s", `{"data":{}}`),
			errView{400, v1.CodeValidationFailed, []string{"kind"}}, "this endpoint is for Server"},
		{"project other than the path", "POST", "/api/v1/projects/demo/prompts", promptDoc("other", "p", "hi"),
			errView{400, v1.CodeValidationFailed, []string{"metadata.project"}}, "must be demo"},
		{"invalid name in the path", "GET", "/api/v1/servers/My_Server", "",
			errView{400, v1.CodeValidationFailed, []string{"name"}}, "DNS label"},
		{"invalid project in the path", "POST", "/api/v1/projects/Demo/prompts", `{"metadata":{"name":"p"},"spec":{"text":"hi"}}`,
			errView{400, v1.CodeValidationFailed, []string{"project"}}, "DNS label"},
		{"not an object", "POST", "/api/v1/servers", `[1]`,
			errView{400, v1.CodeValidationFailed, []string{""}}, "not an object"},
		{"malformed JSON", "POST", "/api/v1/servers", `{"metadata":`,
			errView{400, v1.CodeValidationFailed, []string{""}}, "malformed JSON"},
		{"unknown query parameter on get", "GET", "/api/v1/projects/demo?watch=true", "",
			errView{400, v1.CodeValidationFailed, []string{"watch"}}, "allowed: reveal"},
		{"unknown query parameter on create", "POST", "/api/v1/projects?force=true", doc("Project", "p", `{}`),
			errView{400, v1.CodeValidationFailed, []string{"force"}}, "allowed: dryRun"},
		{"unknown query parameter on delete", "DELETE", "/api/v1/projects/demo?force=true", "",
			errView{400, v1.CodeValidationFailed, []string{"force"}}, "allowed: cascade, dryRun"},
		// A flag that is not exactly true must not be read as false: a
		// dry run would become a real write.
		{"dryRun=1 on delete", "DELETE", "/api/v1/projects/demo?dryRun=1", "",
			errView{400, v1.CodeValidationFailed, []string{"dryRun"}}, "must be true or false"},
		{"cascade=yes on delete", "DELETE", "/api/v1/projects/demo?cascade=yes", "",
			errView{400, v1.CodeValidationFailed, []string{"cascade"}}, "must be true or false"},
		{"dryRun=yes on create", "POST", "/api/v1/servers?dryRun=yes", doc("Server", "s", `{"command":"npx"}`),
			errView{400, v1.CodeValidationFailed, []string{"dryRun"}}, "must be true or false"},
		{"dryRun=1 on update", "PUT", "/api/v1/projects/demo?dryRun=1", doc("Project", "demo", `{"gated":true}`),
			errView{400, v1.CodeValidationFailed, []string{"dryRun"}}, "must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, c.call(t, tt.method, tt.path, tt.body), tt.want, tt.msg)
		})
	}
	r := c.do(t, req{method: "POST", path: "/api/v1/servers", body: doc("Server", "s", `{"command":"npx"}`), contentType: "text/plain", token: c.tok})
	checkError(t, r, errView{http.StatusUnsupportedMediaType, v1.CodeUnsupportedMediaType, nil}, "application/json")
	r = c.do(t, req{method: "PATCH", path: "/api/v1/projects/demo?dryRun=1", body: `{"spec":{"gated":true}}`, contentType: "application/merge-patch+json", token: c.tok})
	checkError(t, r, errView{http.StatusBadRequest, v1.CodeValidationFailed, []string{"dryRun"}}, "must be true or false")
	if p := c.get(t, "/api/v1/projects/demo"); p.Metadata.ResourceVersion != "1" {
		t.Errorf("project/demo written by refused requests: version %s", p.Metadata.ResourceVersion)
	}
	if diff := cmp.Diff([]string{"project/demo", "project/other"}, c.ids(t, "/api/v1/projects")); diff != "" {
		t.Errorf("projects (-want +got):\n%s", diff)
	}
	noneOf := func(plural string) {
		if got := c.ids(t, "/api/v1/"+plural); len(got) > 0 {
			t.Errorf("%s written by refused requests: %v", plural, got)
		}
	}
	noneOf("servers")
	noneOf("prompts")
}

func TestResourceValidation(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	const servers = "/api/v1/servers"
	server := func(spec string) string { return `{"metadata":{"name":"s"},"spec":` + spec + `}` }
	tests := []struct {
		name, path, body string
		fields           []string
		msg              string
	}{
		{"replicas 11", servers, server(`{"command":"npx","replicas":11}`),
			[]string{"spec.replicas"}, "must be from 0 to 10, not 11"},
		{"replicas -1", servers, server(`{"command":"npx","replicas":-1}`),
			[]string{"spec.replicas"}, "must be from 0 to 10, not -1"},
		{"command and image", servers, server(`{"command":"npx","image":"ghcr.io/x/y:1"}`),
			[]string{"spec.image"}, "command and image are both set"},
		{"command and url", servers, server(`{"command":"npx","url":"https://mcp.example.com/mcp"}`),
			[]string{"spec.url"}, "command and url are both set"},
		{"no source", servers, server(`{}`),
			[]string{"spec"}, "set exactly one of command"},
		{"env without value", servers, server(`{"command":"npx","env":[{"name":"A"}]}`),
			[]string{"spec.env[0]"}, "set value or secretRef"},
		{"project filter allows and denies a tool", "/api/v1/projects",
			`{"metadata":{"name":"p"},"spec":{"servers":["git"],"tools":{"git":{"allow":["push","pull"],"deny":["push"]}}}}`,
			[]string{"spec.tools.git.deny[0]"}, "tool push is in both allow and deny"},
		{"unknown spec field", servers, server(`{"command":"npx","replica":2}`),
			[]string{"spec.replica"}, "unknown field (did you mean replicas?)"},
		{"unknown nested field", servers, server(`{"command":"npx","env":[{"name":"A","secretref":{"name":"x","key":"y"}}]}`),
			[]string{"spec.env[0].secretref"}, "did you mean secretRef?"},
		{"unknown metadata field", servers, `{"metadata":{"name":"s","label":{"a":"b"}},"spec":{"command":"npx"}}`,
			[]string{"metadata.label"}, "did you mean labels?"},
		{"unknown top-level field", servers, `{"metadata":{"name":"s"},"spec":{"command":"npx"},"extra":1}`,
			[]string{"extra"}, "unknown field; known fields: apiVersion, kind, metadata, spec"},
		{"replicas of the wrong type", servers, server(`{"command":"npx","replicas":"three"}`),
			[]string{"spec.replicas"}, `must be an integer, not a string`},
		{"fractional replicas", servers, server(`{"command":"npx","replicas":1.5}`),
			[]string{"spec.replicas"}, "must be an integer, not a number"},
		{"args not a list", servers, server(`{"command":"npx","args":"-y"}`),
			[]string{"spec.args"}, "must be a list"},
		{"labels not an object", servers, `{"metadata":{"name":"s","labels":["a"]},"spec":{"command":"npx"}}`,
			[]string{"metadata.labels"}, "must be an object"},
		{"spec missing", servers, `{"metadata":{"name":"s"}}`,
			[]string{"spec"}, "is required"},
		{"bad name", servers, `{"metadata":{"name":"My_Server"},"spec":{"command":"npx"}}`,
			[]string{"metadata.name"}, "DNS label"},
		{"bad label", servers, `{"metadata":{"name":"s","labels":{"team":"in fra"}},"spec":{"command":"npx"}}`,
			[]string{"metadata.labels.team"}, "the value must be"},
		{"prompt priority", "/api/v1/projects/demo/prompts", `{"metadata":{"name":"p"},"spec":{"text":"hi","priority":11}}`,
			[]string{"spec.priority"}, "must be from 1 to 10, not 11"},
		{"template placeholder not declared", "/api/v1/templates", `{"metadata":{"name":"t"},"spec":{"server":{"command":"npx","args":["${DIR}"]}}}`,
			[]string{"spec.server"}, "${DIR} is used but not declared"},
		{"secret key", "/api/v1/secrets", `{"metadata":{"name":"x"},"spec":{"data":{"a b":"v"}}}`,
			[]string{"spec.data.a b"}, "the key must be"},
		{"several problems", servers, server(`{"command":"npx","replicas":11,"sessionMode":"sticky"}`),
			[]string{"spec.replicas", "spec.sessionMode"}, "must be shared or per-session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.call(t, "POST", tt.path, tt.body)
			checkError(t, r, errView{http.StatusBadRequest, v1.CodeValidationFailed, tt.fields}, tt.msg)
		})
	}
	c.checkEmpty(t)
}

// referencesEnv holds a secret with two keys, two servers using it, two
// projects and prompts:
//
//	secret/github {TOKEN, USER}
//	server/memory env GITHUB_TOKEN=secret github TOKEN, LOG_LEVEL=debug
//	server/gh     env GH_TOKEN=secret github TOKEN, GH_USER=secret github USER, MODE=ro
//	server/fetch
//	project/demo  servers memory, fetch (memory filtered); prompts p1, p2
//	project/other servers fetch
func referencesEnv(t *testing.T) *client {
	t.Helper()
	c := newClient(t)
	c.apply(t,
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1","USER":"octocat"}}`),
		doc("Server", "memory", `{"command":"npx","env":[{"name":"GITHUB_TOKEN","secretRef":{"name":"github","key":"TOKEN"}},{"name":"LOG_LEVEL","value":"debug"}]}`),
		doc("Server", "gh", `{"image":"ghcr.io/github/mcp:1","env":[{"name":"GH_TOKEN","secretRef":{"name":"github","key":"TOKEN"}},`+
			`{"name":"GH_USER","secretRef":{"name":"github","key":"USER"}},{"name":"MODE","value":"ro"}]}`),
		doc("Server", "fetch", `{"command":"uvx","args":["mcp-server-fetch"]}`),
		doc("Project", "demo", `{"servers":["memory","fetch"],"tools":{"memory":{"deny":["delete"]}}}`),
		doc("Project", "other", `{"servers":["fetch"]}`),
		promptDoc("demo", "p1", "one"),
		promptDoc("demo", "p2", "two"),
	)
	return c
}

func TestResourceReferences(t *testing.T) {
	t.Parallel()
	c := referencesEnv(t)
	tests := []struct {
		name, method, path, body string
		fields                   []string
		msg                      string
	}{
		{"server names a missing secret", "POST", "/api/v1/servers",
			doc("Server", "s", `{"command":"npx","env":[{"name":"A","secretRef":{"name":"nope","key":"K"}}]}`),
			[]string{"spec.env[0].secretRef"}, "secret/nope does not exist"},
		{"server names a missing key", "POST", "/api/v1/servers",
			doc("Server", "s", `{"command":"npx","env":[{"name":"A","value":"x"},{"name":"B","secretRef":{"name":"github","key":"PASSWORD"}}]}`),
			[]string{"spec.env[1].secretRef"}, "secret/github has no key PASSWORD (its keys: TOKEN, USER)"},
		{"template names a missing key", "POST", "/api/v1/templates",
			doc("Template", "t", `{"server":{"command":"npx","env":[{"name":"B","secretRef":{"name":"github","key":"PASSWORD"}}]}}`),
			[]string{"spec.server.env[0].secretRef"}, "has no key PASSWORD"},
		{"project names a missing server", "POST", "/api/v1/projects",
			doc("Project", "p", `{"servers":["memory","ghost"]}`),
			[]string{"spec.servers[1]"}, "server/ghost does not exist"},
		{"update adds a missing server", "PUT", "/api/v1/projects/other",
			doc("Project", "other", `{"servers":["fetch","ghost","phantom"]}`),
			[]string{"spec.servers[1]", "spec.servers[2]"}, "server/phantom does not exist"},
		{"prompt in a missing project", "POST", "/api/v1/projects/ghost/prompts",
			`{"metadata":{"name":"p"},"spec":{"text":"hi"}}`,
			[]string{"metadata.project"}, "project/ghost does not exist"},
		{"secret update removes a used key", "PUT", "/api/v1/secrets/github",
			doc("Secret", "github", `{"data":{"TOKEN":null}}`),
			[]string{"spec.data"}, "key USER is still used by server/gh (spec.env[1].secretRef)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.call(t, tt.method, tt.path, tt.body)
			checkError(t, r, errView{http.StatusBadRequest, v1.CodeValidationFailed, tt.fields}, tt.msg)
		})
	}
	// Nothing was written: every object is at version 1.
	for _, path := range []string{"/api/v1/secrets/github", "/api/v1/projects/other", "/api/v1/servers/gh"} {
		if rv := c.get(t, path).Metadata.ResourceVersion; rv != "1" {
			t.Errorf("%s: resourceVersion %s after refused writes, want 1", path, rv)
		}
	}
	for _, path := range []string{"/api/v1/servers/s", "/api/v1/templates/t", "/api/v1/projects/p", "/api/v1/projects/ghost/prompts/p"} {
		checkError(t, c.call(t, "GET", path, ""), errView{http.StatusNotFound, v1.CodeNotFound, nil}, "not found")
	}

	t.Run("removing a key no one uses", func(t *testing.T) {
		// USER is used only by gh; drop it there and from the secret in
		// one apply.
		res := c.apply(t,
			doc("Secret", "github", `{"data":{"TOKEN":null}}`),
			doc("Server", "gh", `{"image":"ghcr.io/github/mcp:1","env":[{"name":"GH_TOKEN","secretRef":{"name":"github","key":"TOKEN"}}]}`),
		)
		got := []string{res.Results[0].Action, res.Results[1].Action}
		if diff := cmp.Diff([]string{v1.ActionConfigured, v1.ActionConfigured}, got); diff != "" {
			t.Errorf("actions (-want +got):\n%s", diff)
		}
		checkSpec(t, c.get(t, "/api/v1/secrets/github"), `{"data":{"TOKEN":null}}`)
	})
}

func TestResourceDelete(t *testing.T) {
	t.Parallel()
	c := referencesEnv(t)
	conflict := errView{http.StatusConflict, v1.CodeConflict, nil}
	del := func(t *testing.T, path string) v1.DeleteResponse {
		t.Helper()
		var out v1.DeleteResponse
		if err := json.Unmarshal(c.must(t, http.StatusOK, "DELETE", path, "").body, &out); err != nil {
			t.Fatalf("decode delete answer: %v", err)
		}
		return out
	}

	t.Run("server used by a project", func(t *testing.T) {
		checkError(t, c.call(t, "DELETE", "/api/v1/servers/memory", ""), conflict,
			"server/memory is still used by project/demo; remove it from them first, or delete with --cascade")
		checkError(t, c.call(t, "DELETE", "/api/v1/servers/fetch", ""), conflict,
			"server/fetch is still used by project/demo, project/other;")
		c.get(t, "/api/v1/servers/memory")
	})
	t.Run("cascade dry run", func(t *testing.T) {
		got := del(t, "/api/v1/servers/memory?cascade=true&dryRun=true")
		if len(got.Cascaded) != 1 || got.Cascaded[0].Name != "demo" {
			t.Errorf("dry-run cascade = %+v, want project demo", got.Cascaded)
		}
		c.get(t, "/api/v1/servers/memory")
		if p := c.get(t, "/api/v1/projects/demo"); p.Metadata.ResourceVersion != "1" {
			t.Errorf("a dry-run delete changed project/demo to version %s", p.Metadata.ResourceVersion)
		}
	})
	t.Run("server with cascade", func(t *testing.T) {
		c.clock.Advance(time.Minute)
		got := del(t, "/api/v1/servers/memory?cascade=true")
		want := v1.DeleteResponse{
			Deleted:  v1.ApplyResult{Kind: "Server", Name: "memory", Action: v1.ActionDeleted, ResourceVersion: "1"},
			Cascaded: []v1.ApplyResult{{Kind: "Project", Name: "demo", Action: v1.ActionConfigured, ResourceVersion: "2"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("delete answer (-want +got):\n%s", diff)
		}
		p := c.get(t, "/api/v1/projects/demo")
		checkSpec(t, p, `{"servers":["fetch"],"separator":"__"}`)
		if p.Metadata.ResourceVersion != "2" || !p.Metadata.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("project/demo version %s updated %v, want 2 at %v", p.Metadata.ResourceVersion, p.Metadata.UpdatedAt, t0.Add(time.Minute))
		}
		checkError(t, c.call(t, "GET", "/api/v1/servers/memory", ""), errView{404, v1.CodeNotFound, nil}, "server/memory not found")
		// The project no longer references memory: a new server of that
		// name is not in it.
		c.must(t, http.StatusCreated, "POST", "/api/v1/servers", doc("Server", "memory", `{"command":"npx"}`))
		c.must(t, http.StatusOK, "DELETE", "/api/v1/servers/memory", "")
	})
	t.Run("project with prompts", func(t *testing.T) {
		checkError(t, c.call(t, "DELETE", "/api/v1/projects/demo", ""), conflict,
			"project/demo is still used by prompt/demo/p1, prompt/demo/p2")
		got := del(t, "/api/v1/projects/demo?cascade=true")
		want := v1.DeleteResponse{
			Deleted: v1.ApplyResult{Kind: "Project", Name: "demo", Action: v1.ActionDeleted, ResourceVersion: "2"},
			Cascaded: []v1.ApplyResult{
				{Kind: "Prompt", Name: "p1", Project: "demo", Action: v1.ActionDeleted},
				{Kind: "Prompt", Name: "p2", Project: "demo", Action: v1.ActionDeleted},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("delete answer (-want +got):\n%s", diff)
		}
		if got := c.ids(t, "/api/v1/prompts"); len(got) != 0 {
			t.Errorf("prompts after the cascade: %v", got)
		}
		checkError(t, c.call(t, "GET", "/api/v1/projects/demo/prompts/p1", ""), errView{404, v1.CodeNotFound, nil}, "prompt/demo/p1 not found")
		if diff := cmp.Diff([]string{"project/other"}, c.ids(t, "/api/v1/projects")); diff != "" {
			t.Errorf("projects (-want +got):\n%s", diff)
		}
		// A new project of the same name starts without the old prompts.
		c.must(t, http.StatusCreated, "POST", "/api/v1/projects", doc("Project", "demo", `{}`))
		if got := c.ids(t, "/api/v1/projects/demo/prompts"); len(got) != 0 {
			t.Errorf("prompts of the new project/demo: %v", got)
		}
	})
	t.Run("secret used by a server", func(t *testing.T) {
		checkError(t, c.call(t, "DELETE", "/api/v1/secrets/github", ""), conflict, "secret/github is still used by server/gh")
		got := del(t, "/api/v1/secrets/github?cascade=true")
		want := v1.DeleteResponse{
			Deleted:  v1.ApplyResult{Kind: "Secret", Name: "github", Action: v1.ActionDeleted, ResourceVersion: "1"},
			Cascaded: []v1.ApplyResult{{Kind: "Server", Name: "gh", Action: v1.ActionConfigured, ResourceVersion: "2"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("delete answer (-want +got):\n%s", diff)
		}
		checkSpec(t, c.get(t, "/api/v1/servers/gh"), `{"transport":"stdio","image":"ghcr.io/github/mcp:1",`+
			`"env":[{"name":"MODE","value":"ro"}],"replicas":1,"runtime":"docker","sessionMode":"shared"}`)
		// gh no longer references the secret: one of the same name can
		// come and go freely.
		c.must(t, http.StatusCreated, "POST", "/api/v1/secrets", doc("Secret", "github", `{"data":{"X":"y"}}`))
		c.must(t, http.StatusOK, "DELETE", "/api/v1/secrets/github", "")
	})
	t.Run("unused", func(t *testing.T) {
		c.must(t, http.StatusOK, "DELETE", "/api/v1/projects/other", "")
		got := del(t, "/api/v1/servers/fetch")
		if len(got.Cascaded) != 0 {
			t.Errorf("cascaded %+v deleting an unused server", got.Cascaded)
		}
	})
}

func TestApplyOrderAndActions(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	// Every document names one that comes after it.
	docs := []string{
		promptDoc("demo", "welcome", "hello"),
		doc("Project", "demo", `{"servers":["memory"]}`),
		doc("Template", "fs", `{"server":{"command":"npx","env":[{"name":"T","secretRef":{"name":"github","key":"TOKEN"}}]}}`),
		doc("Server", "memory", `{"command":"npx","env":[{"name":"GITHUB_TOKEN","secretRef":{"name":"github","key":"TOKEN"}}]}`),
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1"}}`),
	}
	result := func(kind, project, name, action, rv string) v1.ApplyResult {
		return v1.ApplyResult{Kind: kind, Project: project, Name: name, Action: action, ResourceVersion: rv}
	}
	all := func(action, rv string) []v1.ApplyResult {
		return []v1.ApplyResult{
			result("Prompt", "demo", "welcome", action, rv),
			result("Project", "", "demo", action, rv),
			result("Template", "", "fs", action, rv),
			result("Server", "", "memory", action, rv),
			result("Secret", "", "github", action, rv),
		}
	}
	got := c.apply(t, docs...)
	if diff := cmp.Diff(v1.ApplyResponse{Results: all(v1.ActionCreated, "1")}, got); diff != "" {
		t.Errorf("first apply (-want +got):\n%s", diff)
	}

	c.clock.Advance(time.Minute)
	got = c.apply(t, docs...)
	if diff := cmp.Diff(v1.ApplyResponse{Results: all(v1.ActionUnchanged, "1")}, got); diff != "" {
		t.Errorf("identical reapply (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/api/v1/projects/demo/prompts/welcome", "/api/v1/projects/demo", "/api/v1/templates/fs", "/api/v1/servers/memory", "/api/v1/secrets/github"} {
		md := c.get(t, path).Metadata
		if md.ResourceVersion != "1" || !md.UpdatedAt.Equal(t0) {
			t.Errorf("%s: version %s updated %v after an unchanged apply, want 1 at %v", path, md.ResourceVersion, md.UpdatedAt, t0)
		}
	}

	// What `get -o json` prints applies back unchanged.
	var back []string
	for _, path := range []string{"/api/v1/servers/memory", "/api/v1/secrets/github", "/api/v1/projects/demo/prompts/welcome"} {
		back = append(back, string(c.must(t, http.StatusOK, "GET", path, "").body))
	}
	got = c.apply(t, back...)
	want := []v1.ApplyResult{
		result("Server", "", "memory", v1.ActionUnchanged, "1"),
		result("Secret", "", "github", v1.ActionUnchanged, "1"),
		result("Prompt", "demo", "welcome", v1.ActionUnchanged, "1"),
	}
	if diff := cmp.Diff(want, got.Results); diff != "" {
		t.Errorf("reapplying GET output (-want +got):\n%s", diff)
	}

	got = c.apply(t,
		doc("Server", "fetch", `{"command":"uvx"}`),
		doc("Server", "memory", `{"command":"npx","replicas":2,"env":[{"name":"GITHUB_TOKEN","secretRef":{"name":"github","key":"TOKEN"}}]}`),
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1"}}`),
		doc("Project", "demo", `{"servers":["memory","fetch"]}`),
	)
	want = []v1.ApplyResult{
		result("Server", "", "fetch", v1.ActionCreated, "1"),
		result("Server", "", "memory", v1.ActionConfigured, "2"),
		result("Secret", "", "github", v1.ActionUnchanged, "1"),
		result("Project", "", "demo", v1.ActionConfigured, "2"),
	}
	if diff := cmp.Diff(want, got.Results); diff != "" {
		t.Errorf("mixed apply (-want +got):\n%s", diff)
	}
	if md := c.get(t, "/api/v1/servers/memory").Metadata; !md.UpdatedAt.Equal(t0.Add(time.Minute)) || !md.CreatedAt.Equal(t0) {
		t.Errorf("server/memory created %v updated %v, want %v and %v", md.CreatedAt, md.UpdatedAt, t0, t0.Add(time.Minute))
	}

	t.Run("same name, other kind or project", func(t *testing.T) {
		got := c.apply(t,
			doc("Secret", "memory", `{"data":{"A":"b"}}`),
			doc("Project", "other", `{}`),
			promptDoc("other", "welcome", "hi"),
		)
		var actions []string
		for _, r := range got.Results {
			actions = append(actions, r.ID()+" "+r.Action)
		}
		want := []string{"secret/memory created", "project/other created", "prompt/other/welcome created"}
		if diff := cmp.Diff(want, actions); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("stale resourceVersion", func(t *testing.T) {
		r := c.call(t, "POST", "/api/v1/apply", `{"objects":[`+
			`{"kind":"Server","metadata":{"name":"memory","resourceVersion":"1"},"spec":{"command":"npx","replicas":4}}]}`)
		checkError(t, r, errView{http.StatusConflict, v1.CodeConflict, nil}, "server/memory was changed since you read it (your resourceVersion 1, now 2)")
		got := c.apply(t, `{"kind":"Server","metadata":{"name":"memory","resourceVersion":"2"},"spec":{"command":"npx","replicas":4}}`)
		if diff := cmp.Diff([]v1.ApplyResult{result("Server", "", "memory", v1.ActionConfigured, "3")}, got.Results); diff != "" {
			t.Errorf("apply with the current version (-want +got):\n%s", diff)
		}
	})
}

func TestApplyDryRun(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t,
		`{"kind":"Server","metadata":{"name":"memory","labels":{"team":"infra"}},"spec":{"command":"npx","replicas":2}}`,
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1"}}`),
	)
	got := c.applyReq(t, `{"dryRun":true,"objects":[`+
		`{"kind":"Server","metadata":{"name":"memory","labels":{"team":"web"}},"spec":{"command":"npx","replicas":5}},`+
		doc("Server", "fetch", `{"command":"uvx"}`)+`,`+
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_2"}}`)+`,`+
		doc("Project", "demo", `{"servers":["memory","fetch"]}`)+`]}`)
	want := v1.ApplyResponse{DryRun: true, Results: []v1.ApplyResult{
		{Kind: "Server", Name: "memory", Action: v1.ActionConfigured, ResourceVersion: "1", Changes: []v1.Change{
			{Path: "metadata.labels.team", Old: json.RawMessage(`"infra"`), New: json.RawMessage(`"web"`)},
			{Path: "spec.replicas", Old: json.RawMessage(`2`), New: json.RawMessage(`5`)},
		}},
		{Kind: "Server", Name: "fetch", Action: v1.ActionCreated, ResourceVersion: "1"},
		{Kind: "Secret", Name: "github", Action: v1.ActionConfigured, ResourceVersion: "1", Changes: []v1.Change{
			{Path: "spec.data", Old: json.RawMessage(`"(hidden)"`), New: json.RawMessage(`"(hidden)"`)},
		}},
		{Kind: "Project", Name: "demo", Action: v1.ActionCreated, ResourceVersion: "1"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if b, _ := json.Marshal(got); bytes.Contains(b, []byte("ghp_")) {
		t.Errorf("the dry run shows a secret value: %s", b)
	}
	// Nothing was written.
	m := c.get(t, "/api/v1/servers/memory")
	checkSpec(t, m, `{"transport":"stdio","command":"npx","replicas":2,"runtime":"process","sessionMode":"shared"}`)
	if m.Metadata.ResourceVersion != "1" || m.Metadata.Labels["team"] != "infra" {
		t.Errorf("server/memory changed by a dry run: %+v", m.Metadata)
	}
	if diff := cmp.Diff([]string{"server/memory"}, c.ids(t, "/api/v1/servers")); diff != "" {
		t.Errorf("servers after a dry run (-want +got):\n%s", diff)
	}
	if got := c.ids(t, "/api/v1/projects"); len(got) != 0 {
		t.Errorf("projects after a dry run: %v", got)
	}
	s := c.get(t, "/api/v1/secrets/github?reveal=true")
	checkSpec(t, s, `{"data":{"TOKEN":"ghp_1"}}`)

	// A dry run still checks everything.
	r := c.call(t, "POST", "/api/v1/apply", `{"dryRun":true,"objects":[`+doc("Project", "p", `{"servers":["ghost"]}`)+`]}`)
	checkError(t, r, errView{http.StatusBadRequest, v1.CodeValidationFailed, []string{"objects[0].spec.servers[0]"}}, "server/ghost does not exist")

	// A single create can be a dry run too.
	r = c.must(t, http.StatusCreated, "POST", "/api/v1/servers?dryRun=true", doc("Server", "x", `{"command":"npx"}`))
	var one v1.ApplyResponse
	if err := json.Unmarshal(r.body, &one); err != nil {
		t.Fatal(err)
	}
	if !one.DryRun || len(one.Results) != 1 || one.Results[0].Action != v1.ActionCreated {
		t.Errorf("dry-run create answer: %s", r.body)
	}
	checkError(t, c.call(t, "GET", "/api/v1/servers/x", ""), errView{404, v1.CodeNotFound, nil}, "server/x not found")
}

// Refused applies write nothing, whichever document is wrong and however
// it is wrong.
func TestApplyRefused(t *testing.T) {
	t.Parallel()
	valid := []string{
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1"}}`),
		doc("Server", "memory", `{"command":"npx","env":[{"name":"T","secretRef":{"name":"github","key":"TOKEN"}}]}`),
		doc("Template", "fs", `{"server":{"command":"npx"}}`),
		doc("Project", "demo", `{"servers":["memory"]}`),
		promptDoc("demo", "p1", "hi"),
		doc("Server", "fetch", `{"command":"uvx"}`),
	}
	// with returns valid with document i replaced.
	with := func(i int, d string) string {
		docs := append([]string(nil), valid...)
		docs[i] = d
		return `{"objects":[` + strings.Join(docs, ",") + `]}`
	}
	const kinds = "known kinds: Secret, Template, Server, Project, Prompt, Group, RbacDefinition, McpToken"
	tests := []struct {
		name string
		body string
		want errView
		msg  string
	}{
		{"document 5 of 6 fails validation", with(4, `{"kind":"Prompt","metadata":{"name":"p1","project":"demo"},"spec":{"text":"hi","priority":11}}`),
			errView{400, v1.CodeValidationFailed, []string{"objects[4].spec.priority"}}, "must be from 1 to 10"},
		{"document 5 of 6 has an unknown field", with(4, `{"kind":"Prompt","metadata":{"name":"p1","project":"demo"},"spec":{"txt":"hi"}}`),
			errView{400, v1.CodeValidationFailed, []string{"objects[4].spec.txt"}}, "did you mean text?"},
		{"document 5 of 6 names a missing project", with(4, promptDoc("ghost", "p1", "hi")),
			errView{400, v1.CodeValidationFailed, []string{"objects[4].metadata.project"}}, "project/ghost does not exist"},
		{"document 5 of 6 names a missing key", with(4, doc("Server", "s", `{"command":"npx","env":[{"name":"T","secretRef":{"name":"github","key":"USER"}}]}`)),
			errView{400, v1.CodeValidationFailed, []string{"objects[4].spec.env[0].secretRef"}}, "secret/github has no key USER (its keys: TOKEN)"},
		{"document 5 of 6 is not an object", with(4, `"p1"`),
			errView{400, v1.CodeValidationFailed, []string{"objects[4]"}}, `the document is a string, not an object`},
		{"a list instead of a document", with(1, `[]`),
			errView{400, v1.CodeValidationFailed, []string{"objects[1]"}}, "the document is a list, not an object"},
		{"null document", with(1, `null`),
			errView{400, v1.CodeValidationFailed, []string{"objects[1]"}}, "the document is null"},
		{"unknown kind", with(2, doc("Widget", "w", `{}`)),
			errView{400, v1.CodeValidationFailed, []string{"objects[2].kind"}}, `unknown kind "Widget"; ` + kinds},
		{"kind in the wrong case", with(2, doc("server", "w", `{"command":"npx"}`)),
			errView{400, v1.CodeValidationFailed, []string{"objects[2].kind"}}, "did you mean Server?"},
		{"no kind", with(2, `{"metadata":{"name":"w"},"spec":{}}`),
			errView{400, v1.CodeValidationFailed, []string{"objects[2].kind"}}, "is required; " + kinds},
		{"same kind and name twice", with(5, doc("Server", "memory", `{"command":"uvx"}`)),
			errView{400, v1.CodeValidationFailed, []string{"objects[5].metadata.name"}}, "server/memory appears twice in this apply (also at objects[1])"},
		{"several bad documents", `{"objects":[` +
			doc("Server", "a", `{"command":"npx","replicas":11}`) + `,` + doc("Server", "b", `{"command":"npx","replicas":"x"}`) + `]}`,
			errView{400, v1.CodeValidationFailed, []string{"objects[1].spec.replicas"}}, "must be an integer"},
		{"no documents", `{"objects":[]}`,
			errView{400, v1.CodeValidationFailed, []string{"objects"}}, "at least one object"},
		{"bad onConflict", `{"onConflict":"merge","objects":[` + valid[0] + `]}`,
			errView{400, v1.CodeValidationFailed, []string{"onConflict"}}, "must be update, skip or fail"},
		{"unknown request field", `{"object":[` + valid[0] + `]}`,
			errView{400, v1.CodeValidationFailed, []string{"object"}}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			checkError(t, c.call(t, "POST", "/api/v1/apply", tt.body), tt.want, tt.msg)
			c.checkEmpty(t)
		})
	}
	// The valid set itself applies, so each refusal above is down to the
	// one document changed.
	c := newClient(t)
	if got := c.apply(t, valid...); len(got.Results) != len(valid) {
		t.Errorf("valid apply: %+v", got)
	}
}

func TestApplyOnConflict(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *client {
		c := newClient(t)
		c.apply(t, doc("Server", "memory", `{"command":"npx","replicas":1}`))
		return c
	}
	docs := doc("Server", "fetch", `{"command":"uvx"}`) + "," + doc("Server", "memory", `{"command":"npx","replicas":3}`)
	t.Run("skip", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		got := c.applyReq(t, `{"onConflict":"skip","objects":[`+docs+`]}`)
		want := []v1.ApplyResult{
			{Kind: "Server", Name: "fetch", Action: v1.ActionCreated, ResourceVersion: "1"},
			{Kind: "Server", Name: "memory", Action: v1.ActionSkipped, ResourceVersion: "1"},
		}
		if diff := cmp.Diff(want, got.Results); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
		m := c.get(t, "/api/v1/servers/memory")
		checkSpec(t, m, `{"transport":"stdio","command":"npx","replicas":1,"runtime":"process","sessionMode":"shared"}`)
		if m.Metadata.ResourceVersion != "1" {
			t.Errorf("skipped server at version %s, want 1", m.Metadata.ResourceVersion)
		}
	})
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		r := c.call(t, "POST", "/api/v1/apply", `{"onConflict":"fail","objects":[`+docs+`]}`)
		checkError(t, r, errView{http.StatusConflict, v1.CodeConflict, nil}, "server/memory already exists and --on-conflict is fail; nothing was written")
		if diff := cmp.Diff([]string{"server/memory"}, c.ids(t, "/api/v1/servers")); diff != "" {
			t.Errorf("servers (-want +got):\n%s", diff)
		}
		checkSpec(t, c.get(t, "/api/v1/servers/memory"), `{"transport":"stdio","command":"npx","replicas":1,"runtime":"process","sessionMode":"shared"}`)
	})
	t.Run("update", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		got := c.applyReq(t, `{"onConflict":"update","objects":[`+docs+`]}`)
		if got.Results[1].Action != v1.ActionConfigured {
			t.Errorf("memory: %s, want configured", got.Results[1].Action)
		}
	})
}

func TestSecretValues(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	const (
		token    = "ghp_plaintext-token-0d1e2a"
		user     = "octocat-plaintext-user-77f3"
		newToken = "ghp_rotated-token-93be41"
	)
	withID := func(id, method, path, body string) resp {
		t.Helper()
		return c.do(t, req{method: method, path: path, body: body, token: c.tok, header: map[string]string{"X-Request-Id": id}})
	}
	r := withID("create", "POST", "/api/v1/secrets", doc("Secret", "github", `{"data":{"TOKEN":"`+token+`","USER":"`+user+`"}}`))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	redacted := `{"data":{"TOKEN":null,"USER":null}}`
	checkSpec(t, decodeObj(t, r.body), redacted)

	r = withID("get", "GET", "/api/v1/secrets/github", "")
	if !bytes.Contains(r.body, []byte(`"data":{"TOKEN":null,"USER":null}`)) {
		t.Errorf("GET does not show the keys with null values: %s", r.body)
	}
	r = withID("list", "GET", "/api/v1/secrets", "")
	if !bytes.Contains(r.body, []byte(`"data":{"TOKEN":null,"USER":null}`)) {
		t.Errorf("list does not show the keys with null values: %s", r.body)
	}
	r = withID("reveal", "GET", "/api/v1/secrets/github?reveal=true", "")
	checkSpec(t, decodeObj(t, r.body), `{"data":{"TOKEN":"`+token+`","USER":"`+user+`"}}`)
	r = withID("list-reveal", "GET", "/api/v1/secrets?reveal=true", "")
	if !bytes.Contains(r.body, []byte(token)) {
		t.Errorf("list ?reveal=true does not show the values: %s", r.body)
	}
	r = withID("reveal-false", "GET", "/api/v1/secrets/github?reveal=false", "")
	checkSpec(t, decodeObj(t, r.body), redacted)

	// A redacted secret applied back keeps its values.
	get := c.must(t, http.StatusOK, "GET", "/api/v1/secrets/github", "")
	res := c.apply(t, string(get.body))
	if res.Results[0].Action != v1.ActionUnchanged {
		t.Errorf("applying the redacted secret: %s, want unchanged", res.Results[0].Action)
	}
	res = c.apply(t, doc("Secret", "github", `{"data":{"TOKEN":"`+token+`","USER":null}}`))
	if res.Results[0].Action != v1.ActionUnchanged {
		t.Errorf("applying the same value: %s, want unchanged", res.Results[0].Action)
	}
	checkSpec(t, c.get(t, "/api/v1/secrets/github?reveal=true"), `{"data":{"TOKEN":"`+token+`","USER":"`+user+`"}}`)

	res = c.apply(t, doc("Secret", "github", `{"data":{"TOKEN":"`+newToken+`","USER":null}}`))
	if diff := cmp.Diff([]v1.ApplyResult{{Kind: "Secret", Name: "github", Action: v1.ActionConfigured, ResourceVersion: "2"}}, res.Results); diff != "" {
		t.Errorf("changing one value (-want +got):\n%s", diff)
	}
	checkSpec(t, c.get(t, "/api/v1/secrets/github?reveal=true"), `{"data":{"TOKEN":"`+newToken+`","USER":"`+user+`"}}`)

	t.Run("reveal of another kind", func(t *testing.T) {
		c.apply(t, doc("Server", "memory", `{"command":"npx"}`))
		for _, path := range []string{"/api/v1/servers/memory?reveal=true", "/api/v1/servers?reveal=true"} {
			checkError(t, c.call(t, "GET", path, ""), errView{http.StatusBadRequest, v1.CodeValidationFailed, []string{"reveal"}}, "only secrets have values to reveal")
		}
		checkError(t, c.call(t, "GET", "/api/v1/secrets/github?reveal=yes", ""),
			errView{http.StatusBadRequest, v1.CodeValidationFailed, []string{"reveal"}}, "must be true or false")
	})

	t.Run("at rest and in logs", func(t *testing.T) {
		files, err := filepath.Glob(c.dbPath + "*")
		if err != nil || len(files) == 0 {
			t.Fatalf("no database files at %s: %v", c.dbPath, err)
		}
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
			for _, v := range []string{token, user, newToken, "ghp_"} {
				if bytes.Contains(b, []byte(v)) {
					t.Errorf("%s holds the plaintext %q", filepath.Base(f), v)
				}
			}
		}
		// The probe must be able to see the secret's row at all: its key
		// names are stored in clear.
		if !bytes.Contains(all, []byte(`"TOKEN"`)) || !bytes.Contains(all, []byte(`"USER"`)) {
			t.Errorf("the database files %v do not hold the key names: the search for values proves nothing", files)
		}
		for _, v := range []string{token, user, newToken} {
			if strings.Contains(c.logs.String(), v) {
				t.Errorf("the log holds the plaintext %q", v)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		c.flushAudit(t)
		events, err := c.db.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, ev := range events {
			switch ev.RequestID {
			case "create", "get", "list", "reveal", "list-reveal", "reveal-false":
				got[ev.RequestID] = ev.Action
			}
		}
		want := map[string]string{
			"create": "secrets.create", "get": "secrets.get", "list": "secrets.list",
			"reveal": "secrets.reveal", "list-reveal": "secrets.reveal", "reveal-false": "secrets.get",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit actions by request id (-want +got):\n%s", diff)
		}
	})
}

func TestPatch(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t,
		`{"kind":"Server","metadata":{"name":"memory","labels":{"team":"infra","tier":"web"}},"spec":{"command":"npx","args":["-y","m"]}}`,
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_1","USER":"octocat"}}`),
		doc("Project", "demo", `{"servers":["memory"]}`),
		promptDoc("demo", "p1", "hi"),
	)
	patch := func(path, body string) resp {
		t.Helper()
		return c.do(t, req{method: "PATCH", path: path, body: body, contentType: "application/merge-patch+json", token: c.tok})
	}
	ok := func(t *testing.T, path, body string) v1.Object {
		t.Helper()
		r := patch(path, body)
		if r.status != http.StatusOK {
			t.Fatalf("PATCH %s %s: %d %s", path, body, r.status, r.body)
		}
		return decodeObj(t, r.body)
	}

	t.Run("replicas", func(t *testing.T) {
		o := ok(t, "/api/v1/servers/memory", `{"spec":{"replicas":3}}`)
		checkSpec(t, o, `{"transport":"stdio","command":"npx","args":["-y","m"],"replicas":3,"runtime":"process","sessionMode":"shared"}`)
		if o.Metadata.ResourceVersion != "2" {
			t.Errorf("resourceVersion %s, want 2", o.Metadata.ResourceVersion)
		}
		checkSpec(t, c.get(t, "/api/v1/servers/memory"), `{"transport":"stdio","command":"npx","args":["-y","m"],"replicas":3,"runtime":"process","sessionMode":"shared"}`)
	})
	t.Run("null deletes a label", func(t *testing.T) {
		o := ok(t, "/api/v1/servers/memory", `{"metadata":{"labels":{"team":null}}}`)
		if diff := cmp.Diff(map[string]string{"tier": "web"}, o.Metadata.Labels); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
	})
	t.Run("no change", func(t *testing.T) {
		o := ok(t, "/api/v1/servers/memory", `{"spec":{"replicas":3}}`)
		if o.Metadata.ResourceVersion != "3" {
			t.Errorf("resourceVersion %s after an empty change, want 3", o.Metadata.ResourceVersion)
		}
	})
	t.Run("current resourceVersion", func(t *testing.T) {
		o := ok(t, "/api/v1/servers/memory", `{"metadata":{"resourceVersion":"3"},"spec":{"args":null}}`)
		checkSpec(t, o, `{"transport":"stdio","command":"npx","replicas":3,"runtime":"process","sessionMode":"shared"}`)
	})
	t.Run("prompt", func(t *testing.T) {
		o := ok(t, "/api/v1/projects/demo/prompts/p1", `{"spec":{"priority":9}}`)
		checkSpec(t, o, `{"text":"hi","priority":9}`)
	})
	t.Run("application/json", func(t *testing.T) {
		r := c.call(t, "PATCH", "/api/v1/projects/demo", `{"spec":{"gated":true}}`)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		checkSpec(t, decodeObj(t, r.body), `{"servers":["memory"],"separator":"__","gated":true}`)
	})

	bad := []struct {
		name, path, contentType, body string
		want                          errView
		msg                           string
	}{
		{"rename", "/api/v1/servers/memory", "", `{"metadata":{"name":"other"}}`,
			errView{400, v1.CodeValidationFailed, []string{"metadata.name"}}, "the name cannot be changed (it is memory)"},
		{"move a prompt", "/api/v1/projects/demo/prompts/p1", "", `{"metadata":{"project":"other"}}`,
			errView{400, v1.CodeValidationFailed, []string{"metadata.name"}}, "cannot be changed"},
		{"change the kind", "/api/v1/projects/demo", "", `{"kind":"Server"}`,
			errView{400, v1.CodeValidationFailed, []string{"spec.gated", "spec.separator", "spec.servers"}}, "unknown field"},
		{"stale resourceVersion", "/api/v1/servers/memory", "", `{"metadata":{"resourceVersion":"1"},"spec":{"replicas":5}}`,
			errView{409, v1.CodeConflict, nil}, "server/memory was changed since you read it (your resourceVersion 1, now 4)"},
		{"invalid result", "/api/v1/servers/memory", "", `{"spec":{"replicas":11}}`,
			errView{400, v1.CodeValidationFailed, []string{"spec.replicas"}}, "must be from 0 to 10"},
		{"wrong type", "/api/v1/servers/memory", "", `{"spec":{"replicas":"many"}}`,
			errView{400, v1.CodeValidationFailed, []string{"spec.replicas"}}, "must be an integer"},
		{"unknown field", "/api/v1/servers/memory", "", `{"spec":{"replica":1}}`,
			errView{400, v1.CodeValidationFailed, []string{"spec.replica"}}, "did you mean replicas?"},
		{"missing server reference", "/api/v1/projects/demo", "", `{"spec":{"servers":["memory","ghost"]}}`,
			errView{400, v1.CodeValidationFailed, []string{"spec.servers[1]"}}, "server/ghost does not exist"},
		{"text/plain", "/api/v1/servers/memory", "text/plain", `{"spec":{"replicas":5}}`,
			errView{415, v1.CodeUnsupportedMediaType, nil}, "application/merge-patch+json"},
		{"not an object", "/api/v1/servers/memory", "", `[{"op":"replace","path":"/spec/replicas","value":5}]`,
			errView{400, v1.CodeValidationFailed, []string{""}}, "a merge patch must be a JSON object"},
		{"malformed", "/api/v1/servers/memory", "", `{"spec":`,
			errView{400, v1.CodeValidationFailed, []string{""}}, "malformed JSON"},
		{"missing object", "/api/v1/servers/nope", "", `{"spec":{"replicas":5}}`,
			errView{404, v1.CodeNotFound, nil}, "server/nope not found"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/merge-patch+json"
			}
			r := c.do(t, req{method: "PATCH", path: tt.path, body: tt.body, contentType: ct, token: c.tok})
			checkError(t, r, tt.want, tt.msg)
		})
	}
	if m := c.get(t, "/api/v1/servers/memory"); m.Metadata.ResourceVersion != "4" || *m.Spec.(*v1.ServerSpec).Replicas != 3 {
		t.Errorf("server/memory after refused patches: version %s replicas %d, want 4 and 3",
			m.Metadata.ResourceVersion, *m.Spec.(*v1.ServerSpec).Replicas)
	}

	t.Run("secret adds a key", func(t *testing.T) {
		o := ok(t, "/api/v1/secrets/github", `{"spec":{"data":{"ORG":"acme"}}}`)
		checkSpec(t, o, `{"data":{"ORG":null,"TOKEN":null,"USER":null}}`)
		checkSpec(t, c.get(t, "/api/v1/secrets/github?reveal=true"), `{"data":{"ORG":"acme","TOKEN":"ghp_1","USER":"octocat"}}`)
	})
	t.Run("secret changes a value", func(t *testing.T) {
		ok(t, "/api/v1/secrets/github", `{"spec":{"data":{"TOKEN":"ghp_2"}}}`)
		checkSpec(t, c.get(t, "/api/v1/secrets/github?reveal=true"), `{"data":{"ORG":"acme","TOKEN":"ghp_2","USER":"octocat"}}`)
	})
	t.Run("secret null deletes a key", func(t *testing.T) {
		ok(t, "/api/v1/secrets/github", `{"spec":{"data":{"ORG":null}}}`)
		checkSpec(t, c.get(t, "/api/v1/secrets/github?reveal=true"), `{"data":{"TOKEN":"ghp_2","USER":"octocat"}}`)
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t,
		`{"kind":"Server","metadata":{"name":"s1","labels":{"team":"infra"}},"spec":{"command":"npx"}}`,
		`{"kind":"Server","metadata":{"name":"s2","labels":{"team":"web"}},"spec":{"command":"npx"}}`,
		`{"kind":"Server","metadata":{"name":"s3","labels":{"team":"infra"}},"spec":{"command":"npx"}}`,
		`{"kind":"Server","metadata":{"name":"s4"},"spec":{"command":"npx"}}`,
		`{"kind":"Server","metadata":{"name":"s5","labels":{"team":"infra","env":"prod"}},"spec":{"command":"npx"}}`,
		doc("Project", "demo", `{"servers":["s4","s2"]}`),
		doc("Project", "other", `{}`),
		promptDoc("other", "p1", "o1"),
		promptDoc("demo", "p2", "d2"),
		promptDoc("demo", "p1", "d1"),
	)
	// walk follows nextCursor from the first page and returns the pages.
	walk := func(t *testing.T, path string, q url.Values) [][]string {
		t.Helper()
		var pages [][]string
		cursor := ""
		for {
			if len(pages) > 10 {
				t.Fatalf("more than 10 pages: the cursor does not advance")
			}
			qq := url.Values{}
			for k, v := range q {
				qq[k] = v
			}
			if cursor != "" {
				qq.Set("cursor", cursor)
			}
			r := c.must(t, http.StatusOK, "GET", path+"?"+qq.Encode(), "")
			var l v1.ObjectList
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			pages = append(pages, listIDs(l))
			if l.NextCursor == "" {
				return pages
			}
			cursor = l.NextCursor
		}
	}
	servers := func(names ...string) []string {
		out := []string{}
		for _, n := range names {
			out = append(out, "server/"+n)
		}
		return out
	}
	tests := []struct {
		name  string
		path  string
		query url.Values
		want  []string
		limit int
	}{
		{"all, 2 a page", "/api/v1/servers", url.Values{"limit": {"2"}}, servers("s1", "s2", "s3", "s4", "s5"), 2},
		{"all, 1 a page", "/api/v1/servers", url.Values{"limit": {"1"}}, servers("s1", "s2", "s3", "s4", "s5"), 1},
		{"all, one page", "/api/v1/servers", url.Values{}, servers("s1", "s2", "s3", "s4", "s5"), 100},
		{"equals", "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"team=infra"}}, servers("s1", "s3", "s5"), 2},
		{"double equals", "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"team==infra"}}, servers("s1", "s3", "s5"), 2},
		{"not equals", "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"team!=infra"}}, servers("s2", "s4"), 2},
		{"exists", "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"team"}}, servers("s1", "s2", "s3", "s5"), 2},
		{"does not exist", "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"!team"}}, servers("s4"), 2},
		{"two terms", "/api/v1/servers", url.Values{"limit": {"1"}, "labelSelector": {"team=infra, env=prod"}}, servers("s5"), 1},
		{"no match", "/api/v1/servers", url.Values{"labelSelector": {"team=nobody"}}, servers(), 100},
		{"project's servers", "/api/v1/servers", url.Values{"project": {"demo"}}, servers("s2", "s4"), 100},
		{"project's servers, 1 a page", "/api/v1/servers", url.Values{"project": {"demo"}, "limit": {"1"}}, servers("s2", "s4"), 1},
		{"project without servers", "/api/v1/servers", url.Values{"project": {"other"}}, servers(), 100},
		{"prompts across projects", "/api/v1/prompts", url.Values{}, []string{"prompt/demo/p1", "prompt/demo/p2", "prompt/other/p1"}, 100},
		{"prompts across projects, 1 a page", "/api/v1/prompts", url.Values{"limit": {"1"}}, []string{"prompt/demo/p1", "prompt/demo/p2", "prompt/other/p1"}, 1},
		{"prompts by query", "/api/v1/prompts", url.Values{"project": {"other"}}, []string{"prompt/other/p1"}, 100},
		{"one project's prompts", "/api/v1/projects/demo/prompts", url.Values{"limit": {"1"}}, []string{"prompt/demo/p1", "prompt/demo/p2"}, 1},
		{"one project's prompts, project repeated", "/api/v1/projects/other/prompts", url.Values{"project": {"other"}}, []string{"prompt/other/p1"}, 100},
		{"prompts of a project without any", "/api/v1/projects/ghost/prompts", url.Values{}, []string{}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := walk(t, tt.path, tt.query)
			got := []string{}
			for i, p := range pages {
				got = append(got, p...)
				// Every page but the last is full, however many
				// objects the selector skips.
				if len(p) > tt.limit || (i < len(pages)-1 && len(p) != tt.limit) {
					t.Errorf("page %d of %d has %d items, limit %d: %v", i+1, len(pages), len(p), tt.limit, pages)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items, pages joined (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("exact pages", func(t *testing.T) {
		got := walk(t, "/api/v1/servers", url.Values{"limit": {"2"}})
		want := [][]string{servers("s1", "s2"), servers("s3", "s4"), servers("s5")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		got = walk(t, "/api/v1/servers", url.Values{"limit": {"2"}, "labelSelector": {"team=infra"}})
		want = [][]string{servers("s1", "s3"), servers("s5")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages with a selector (-want +got):\n%s", diff)
		}
	})

	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	bad := []struct {
		path   string
		fields []string
		msg    string
	}{
		{"/api/v1/servers?labelSelector=" + url.QueryEscape("team=in fra"), []string{"labelSelector"}, "the value must be"},
		{"/api/v1/servers?labelSelector=" + url.QueryEscape("=infra"), []string{"labelSelector"}, "the key must be"},
		{"/api/v1/servers?labelSelector=" + url.QueryEscape("team,,env"), []string{"labelSelector"}, "empty term"},
		{"/api/v1/servers?cursor=garbage", []string{"cursor"}, "pass nextCursor from the previous page unchanged"},
		{"/api/v1/servers?cursor=" + cursor("a:5"), []string{"cursor"}, "not a cursor this server issued"},
		{"/api/v1/servers?cursor=" + cursor("r:nameless"), []string{"cursor"}, "not a cursor this server issued"},
		{"/api/v1/servers?watch=true", []string{"watch"}, "unknown query parameter; allowed: limit, cursor, labelSelector, project, reveal"},
		{"/api/v1/servers?limit=0", []string{"limit"}, "from 1 to 1000"},
		{"/api/v1/servers?limit=1001", []string{"limit"}, "from 1 to 1000"},
		{"/api/v1/servers?limit=two", []string{"limit"}, "from 1 to 1000"},
		{"/api/v1/servers?project=Demo", []string{"project"}, "DNS label"},
		{"/api/v1/secrets?project=demo", []string{"project"}, "only servers and project-scoped kinds"},
		{"/api/v1/servers?limit=0&cursor=garbage&watch=1", []string{"watch", "limit", "cursor"}, "see details"},
		{"/api/v1/projects/demo/prompts?project=other", []string{"project"}, "must be demo, the project in the path"},
		{"/api/v1/projects/Demo/prompts", []string{"project"}, "DNS label"},
	}
	for _, tt := range bad {
		t.Run(tt.path, func(t *testing.T) {
			checkError(t, c.call(t, "GET", tt.path, ""), errView{http.StatusBadRequest, v1.CodeValidationFailed, tt.fields}, tt.msg)
		})
	}
	checkError(t, c.call(t, "GET", "/api/v1/servers?project=ghost", ""), errView{http.StatusNotFound, v1.CodeNotFound, nil}, "project/ghost not found")

	t.Run("items are whole objects", func(t *testing.T) {
		r := c.must(t, http.StatusOK, "GET", "/api/v1/servers?labelSelector=env%3Dprod", "")
		var l v1.ObjectList
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 {
			t.Fatalf("items: %s", r.body)
		}
		if diff := cmp.Diff(generic(t, c.get(t, "/api/v1/servers/s5")), generic(t, l.Items[0])); diff != "" {
			t.Errorf("list item differs from GET (-get +list):\n%s", diff)
		}
	})
}

func TestResourcesNeedAToken(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t, doc("Project", "demo", `{}`), doc("Secret", "github", `{"data":{"TOKEN":"ghp_1"}}`))
	requests := []req{
		{method: "GET", path: "/api/v1/servers"},
		{method: "POST", path: "/api/v1/servers", body: doc("Server", "s", `{"command":"npx"}`)},
		{method: "GET", path: "/api/v1/servers/s"},
		{method: "PUT", path: "/api/v1/servers/s", body: doc("Server", "s", `{"command":"npx"}`)},
		{method: "PATCH", path: "/api/v1/projects/demo", body: `{"spec":{"gated":true}}`},
		{method: "DELETE", path: "/api/v1/projects/demo"},
		{method: "GET", path: "/api/v1/secrets/github?reveal=true"},
		{method: "GET", path: "/api/v1/secrets?reveal=true"},
		{method: "GET", path: "/api/v1/templates"},
		{method: "GET", path: "/api/v1/prompts"},
		{method: "GET", path: "/api/v1/projects/demo/prompts"},
		{method: "POST", path: "/api/v1/projects/demo/prompts", body: `{"metadata":{"name":"p"},"spec":{"text":"hi"}}`},
		{method: "POST", path: "/api/v1/apply", body: `{"objects":[` + doc("Server", "s", `{"command":"npx"}`) + `]}`},
	}
	for _, r := range requests {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			got := c.do(t, r)
			checkError(t, got, errView{http.StatusUnauthorized, v1.CodeTokenRequired, nil}, "")
			if bytes.Contains(got.body, []byte("ghp_")) {
				t.Errorf("the 401 reveals a value: %s", got.body)
			}
			r.token = "mcpctl_sess_not-a-real-token"
			checkError(t, c.do(t, r), errView{http.StatusUnauthorized, v1.CodeTokenInvalid, nil}, "")
		})
	}
	if got := c.ids(t, "/api/v1/servers"); len(got) != 0 {
		t.Errorf("servers written without a token: %v", got)
	}
	if p := c.get(t, "/api/v1/projects/demo"); p.Metadata.ResourceVersion != "1" {
		t.Errorf("project/demo changed without a token")
	}
}

// Conditional updates racing on one version: exactly one wins, the others
// are told the object changed.
func TestConcurrentConditionalUpdates(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t, doc("Server", "memory", `{"command":"npx"}`))
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"kind":"Server","metadata":{"name":"memory","resourceVersion":"1"},"spec":{"command":"npx","replicas":` + strconv.Itoa(2+i%9) + `}}` // never the current 1
			hr, err := http.NewRequest("PUT", c.srv.URL+"/api/v1/servers/memory", strings.NewReader(body))
			if err != nil {
				statuses <- 0
				return
			}
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+c.tok)
			res, err := c.srv.Client().Do(hr)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for s := range statuses {
		got[s]++
	}
	if diff := cmp.Diff(map[int]int{http.StatusOK: 1, http.StatusConflict: n - 1}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if v := c.get(t, "/api/v1/servers/memory").Metadata.ResourceVersion; v != "2" {
		t.Errorf("final version %s, want 2", v)
	}
}

// Patches without a resourceVersion racing each other all apply: each is
// merged into the version current in its own transaction, so no change is
// lost.
func TestConcurrentUnconditionalPatches(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t, doc("Server", "memory", `{"command":"npx"}`))
	const n = 4
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"metadata":{"labels":{"l` + strconv.Itoa(i) + `":"x"}}}`
			hr, _ := http.NewRequest("PATCH", c.srv.URL+"/api/v1/servers/memory", strings.NewReader(body))
			hr.Header.Set("Content-Type", "application/merge-patch+json")
			hr.Header.Set("Authorization", "Bearer "+c.tok)
			res, err := c.srv.Client().Do(hr)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("a patch answered %d, want 200", s)
		}
	}
	got := c.get(t, "/api/v1/servers/memory").Metadata.Labels
	if diff := cmp.Diff(map[string]string{"l0": "x", "l1": "x", "l2": "x", "l3": "x"}, got); diff != "" {
		t.Errorf("labels after %d racing patches (-want +got):\n%s", n, diff)
	}
}

// GET /api/v1/export: every object of every kind in apply order, values
// only with reveal, audited as export.reveal.
func TestExport(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t,
		doc("Project", "demo", `{"servers":["memory"]}`),
		doc("Server", "memory", `{"command":"npx","env":[{"name":"T","secretRef":{"name":"github","key":"TOKEN"}}]}`),
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_export_value"}}`),
	)
	list := func(path, id string) v1.ObjectList {
		t.Helper()
		r := c.do(t, req{method: "GET", path: path, token: c.tok, header: map[string]string{"X-Request-Id": id}})
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var out v1.ObjectList
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	plain := list("/api/v1/export", "export")
	var ids []string
	for _, o := range plain.Items {
		ids = append(ids, o.ID())
	}
	if diff := cmp.Diff([]string{"secret/github", "server/memory", "project/demo"}, ids); diff != "" {
		t.Errorf("export order (-want +got):\n%s", diff)
	}
	if v := plain.Items[0].Spec.(*v1.SecretSpec).Data["TOKEN"]; v != nil {
		t.Errorf("export without reveal shows a value: %q", *v)
	}
	revealed := list("/api/v1/export?reveal=true", "export-reveal")
	if v := revealed.Items[0].Spec.(*v1.SecretSpec).Data["TOKEN"]; v == nil || *v != "ghp_export_value" {
		t.Errorf("export?reveal=true: TOKEN = %v", v)
	}
	c.must(t, http.StatusBadRequest, "GET", "/api/v1/export?reveal=yes", "")
	c.must(t, http.StatusBadRequest, "GET", "/api/v1/export?limit=3", "")
	c.flushAudit(t)
	events, err := c.db.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range events {
		if strings.HasPrefix(ev.RequestID, "export") {
			got[ev.RequestID] = ev.Action
		}
	}
	if diff := cmp.Diff(map[string]string{"export": "export", "export-reveal": "export.reveal"}, got); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

// A filtered list reads a bounded number of rows per request: a selector
// that matches nothing ends the page early with a cursor, and following
// the cursors still finds every match.
func TestListScanBound(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.api.maxScan = 10
	var docs []string
	for i := range 25 {
		team := "a"
		if i == 22 {
			team = "b"
		}
		docs = append(docs, fmt.Sprintf(`{"kind":"Server","metadata":{"name":"s%02d","labels":{"team":%q}},"spec":{"command":"npx"}}`, i, team))
	}
	c.apply(t, docs...)
	var found []string
	cursor, pages := "", 0
	for {
		path := "/api/v1/servers?limit=5&labelSelector=team=b"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var out v1.ObjectList
		if err := json.Unmarshal(c.must(t, http.StatusOK, "GET", path, "").body, &out); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range out.Items {
			found = append(found, o.Metadata.Name)
		}
		if cursor = out.NextCursor; cursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the listing does not end")
		}
	}
	if diff := cmp.Diff([]string{"s22"}, found); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("%d pages for 25 rows read 10 at a time, want 3", pages)
	}
}

// A malformed resourceVersion is a 400 naming the field, not a 409; a PUT
// may leave the name to the path.
func TestResourceVersionAndPathName(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	c.apply(t, doc("Server", "memory", `{"command":"npx"}`))
	r := c.must(t, http.StatusBadRequest, "PUT", "/api/v1/servers/memory",
		`{"metadata":{"name":"memory","resourceVersion":"abc"},"spec":{"command":"npx"}}`)
	if !bytes.Contains(r.body, []byte(`"field":"metadata.resourceVersion"`)) {
		t.Errorf("resourceVersion abc: %s", r.body)
	}
	c.must(t, http.StatusOK, "PUT", "/api/v1/servers/memory", `{"spec":{"command":"uvx"}}`)
	if got := c.get(t, "/api/v1/servers/memory").Spec.(*v1.ServerSpec).Command; got != "uvx" {
		t.Errorf("command after a PUT without metadata = %q, want uvx", got)
	}
}
