package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// BenchmarkAuthorization measures the authorization hot path with 1,000
// RbacDefinitions in the store, through the whole middleware stack
// in-process: an unauthenticated /healthz (the baseline), an
// authenticated route with no RBAC check (auth/me), a route checked
// against the non-admin's bindings whose handler does nothing (the hot
// path of authorization itself), the same item read
// by an admin (every right: no binding scan) and by a non-admin user
// checked against her bindings, and a listing filtered by name. Each reports its median as p50-ns; the difference to
// the baseline in the same run is the overhead.
//
//	go test -run '^$' -bench Authorization -benchtime 20000x ./internal/apiserver
func BenchmarkAuthorization(b *testing.B) {
	e := newEnv(b, func(su *setup) {
		su.cfg.RateLimit = config.Rate{}
		// A route checked like GET /projects/{name} whose handler does no
		// work: what remains is the stack and the authorization.
		su.routes = func(s *Server) {
			rt := route{"GET", "/api/v1/bench/projects/{name}", "bench", onItem(v1.RoleView, "projects", "name"),
				func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, struct{}{}) }}
			s.mux.Handle(rt.method+" "+rt.path, s.authorized(rt))
			s.actions[rt.method+" "+rt.path] = rt.action
		}
	})
	ctx := context.Background()
	const carol = "carol@example.com"
	now := time.Now().UTC()
	if err := e.db.CreateUser(ctx, store.User{ID: auth.NewID(), Email: carol, PasswordHash: aliceHash(), CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	err := e.db.UpdateResources(ctx, func(tx store.ResourceTx) error {
		put := func(kind, name string, spec any) error {
			s, _ := json.Marshal(spec)
			return tx.Create(&store.Resource{ResourceKey: store.ResourceKey{Kind: kind, Name: name}, Spec: s, CreatedAt: now, UpdatedAt: now})
		}
		for i := range 1000 {
			// Definitions for other people and groups, and ten that name
			// carol's group: what a large installation holds.
			sub := fmt.Sprintf("User:user-%d@example.com", i)
			if i%100 == 0 {
				sub = "Group:team-a"
			}
			spec := v1.RbacDefinitionSpec{Subjects: []string{sub, fmt.Sprintf("Group:g-%d", i)},
				RoleBindings: []v1.RoleBinding{{Role: v1.RoleView, Resource: "servers", Name: fmt.Sprintf("srv-%d", i)}, {Role: v1.RoleRun, Action: "logs"}}}
			if err := put("RbacDefinition", fmt.Sprintf("def-%04d", i), spec); err != nil {
				return err
			}
		}
		if err := put("RbacDefinition", "carol", v1.RbacDefinitionSpec{Subjects: []string{"User:" + carol},
			RoleBindings: []v1.RoleBinding{{Role: v1.RoleView, Resource: "projects"}}}); err != nil {
			return err
		}
		if err := put("Group", "team-a", v1.GroupSpec{Members: []string{carol}}); err != nil {
			return err
		}
		return put("Project", "demo", v1.ProjectSpec{Servers: []string{}})
	})
	if err != nil {
		b.Fatal(err)
	}
	e.authz.Invalidate()
	tok := e.login(b, carol, alicePassword)

	run := func(name, path, bearer string) {
		b.Run(name, func(b *testing.B) {
			hr := httptest.NewRequest("GET", path, nil)
			if bearer != "" {
				hr.Header.Set("Authorization", "Bearer "+bearer)
			}
			var times []time.Duration
			for b.Loop() {
				w := httptest.NewRecorder()
				start := time.Now()
				e.api.ServeHTTP(w, hr)
				times = append(times, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: status %d %s", path, w.Code, w.Body)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
		})
	}
	run("healthz-baseline", "/healthz", "")
	run("auth-me-no-rbac", "/api/v1/auth/me", tok)
	run("rbac-checked-no-handler-work", "/api/v1/bench/projects/demo", tok)
	run("get-project-admin", "/api/v1/projects/demo", e.login(b, aliceEmail, alicePassword))
	run("get-project-rbac", "/api/v1/projects/demo", tok)
	run("list-servers-filtered", "/api/v1/servers?limit=10", tok)

	// The decision alone: snapshot, the user's rights, one check.
	b.Run("decision-only", func(b *testing.B) {
		req := authz.Request{Verb: v1.RoleView, Resource: "projects", Name: "demo"}
		for b.Loop() {
			pol, err := e.authz.Policy(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !pol.UserRights(carol).Allows(req) {
				b.Fatal("denied")
			}
		}
	})
}
