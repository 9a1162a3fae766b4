package mcplocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/cli"
	"github.com/mcpctl/mcpctl/internal/gateway"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// remoteProjects reads projects from mcpd's REST API with one bearer,
// and keeps the last good answer of each on disk: mcplocal starts, and
// keeps serving the servers it knows, while mcpd is away.
type remoteProjects struct {
	api   *client.Client
	cache string // directory; "" keeps nothing
	log   *slog.Logger

	mu    sync.Mutex
	saved map[string]string // project → JSON last written
}

// cached is what the disk cache holds of a project.
type cached struct {
	Project *gateway.Project `json:"project"`
	At      time.Time        `json:"at"`
}

func (s *remoteProjects) Project(ctx context.Context, name string) (*gateway.Project, error) {
	p, err := s.fetch(ctx, name)
	if err == nil {
		s.save(p)
		return p, nil
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return nil, fmt.Errorf("project %s: %w", name, gateway.ErrNoProject)
	}
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden) {
		return nil, fmt.Errorf("project %s: %s", name, apiErr.Message)
	}
	if c, ok := s.load(name); ok {
		s.log.Warn("mcpd cannot be reached; using the cached project", "project", name, "cached_at", c.At, "err", err)
		return c.Project, nil
	}
	return nil, fmt.Errorf("project %s: mcpd cannot be reached and nothing is cached: %w", name, err)
}

func (s *remoteProjects) fetch(ctx context.Context, name string) (*gateway.Project, error) {
	cfg, err := s.api.GatewayConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	return gateway.ProjectFrom(cfg), nil
}

func (s *remoteProjects) file(name string) string {
	return filepath.Join(s.cache, "project-"+name+".json")
}

// save keeps p on disk when it changed since the last save (the source
// is asked every second while the project is in use).
func (s *remoteProjects) save(p *gateway.Project) {
	if s.cache == "" {
		return
	}
	key, _ := json.Marshal(p)
	s.mu.Lock()
	same := s.saved[p.Name] == string(key)
	s.mu.Unlock()
	if same {
		return
	}
	b, err := json.Marshal(cached{Project: p, At: time.Now().UTC()})
	if err == nil {
		err = os.MkdirAll(s.cache, 0o700)
	}
	if err == nil {
		err = cli.WriteFileAtomic(s.file(p.Name), b, 0o600)
	}
	if err != nil {
		s.log.Debug("project not cached", "project", p.Name, "err", err)
		return
	}
	s.mu.Lock()
	s.saved[p.Name] = string(key)
	s.mu.Unlock()
}

func (s *remoteProjects) load(name string) (cached, bool) {
	var c cached
	if s.cache == "" {
		return c, false
	}
	b, err := os.ReadFile(s.file(name))
	if err != nil || json.Unmarshal(b, &c) != nil || c.Project == nil {
		return c, false
	}
	return c, true
}

// relayTransports opens transports to mcpd's per-server relay of one
// project, with one bearer.
func relayTransports(mcpdURL, project, token string) gateway.TransportFunc {
	hc := &http.Client{Transport: bearerTransport{token: token, base: gateway.KeepAliveClient().Transport}}
	return func(ctx context.Context, server string) (mcp.Transport, func(), error) {
		endpoint := mcpdURL + "/api/v1/projects/" + url.PathEscape(project) + "/servers/" + url.PathEscape(server) + "/mcp"
		return &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: 3}, nil, nil
	}
}

type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// introspector validates McpTokens through mcpd's introspect endpoint,
// caching answers 30 s when valid and 5 s when not.
type introspector struct {
	mcpd         string
	ok, bad      time.Duration
	mu           sync.Mutex
	answers      map[string]introspection
	now          func() time.Time
	maxCacheSize int
}

type introspection struct {
	info *v1.TokenIntrospection
	err  error
	at   time.Time
}

func newIntrospector(mcpdURL string) *introspector {
	return &introspector{mcpd: mcpdURL, ok: 30 * time.Second, bad: 5 * time.Second, answers: map[string]introspection{}, now: time.Now, maxCacheSize: 10000}
}

// lookup returns what mcpd says of token, from the cache when fresh.
func (in *introspector) lookup(ctx context.Context, token string) (*v1.TokenIntrospection, error) {
	in.mu.Lock()
	a, ok := in.answers[token]
	in.mu.Unlock()
	if ok {
		ttl := in.ok
		if a.err != nil {
			ttl = in.bad
		}
		if in.now().Sub(a.at) < ttl {
			return a.info, a.err
		}
	}
	api, err := client.New(in.mcpd, client.Options{Token: token, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		return nil, err
	}
	info, err := api.Introspect(ctx)
	var apiErr *v1.Error
	if err != nil && !errors.As(err, &apiErr) {
		// mcpd away: not an answer about the token; not cached.
		return nil, err
	}
	if err == nil && !info.Active {
		err = errors.New("the token is not active (revoked or expired)")
	}
	in.mu.Lock()
	if len(in.answers) >= in.maxCacheSize {
		in.answers = map[string]introspection{}
	}
	in.answers[token] = introspection{info: info, err: err, at: in.now()}
	in.mu.Unlock()
	return info, err
}
