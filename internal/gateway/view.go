//lint:file-ignore SA1019 the gateway forwards logging and roots (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ref is a server's own name of an item the project shows under another.
type ref struct{ server, name string }

// viewState is what one sync of a view decided: immutable once stored.
type viewState struct {
	cfg   *Project
	names names
	modes map[string]string // server → session mode
	// by the project's names:
	tools, denied, prompts, resources, templates map[string]ref
	// problems lists servers whose lists could not be read, for health.
	problems map[string]error
}

// view is one project as clients see it: an mcp.Server whose registry is
// kept equal to the merge of the project's servers' lists.
type view struct {
	g    *Gateway
	name string
	srv  *mcp.Server

	cfgMu  sync.Mutex
	cfg    *Project
	cfgKey string
	cfgAt  time.Time

	syncMu sync.Mutex
	// applied names the config and listings the registry was built from.
	applied string
	// registered holds the JSON of each registered item, by kind and
	// name, so an unchanged item is not registered again (which would
	// tell every client its list changed).
	registered map[string]map[string]string
	state      atomic.Pointer[viewState]
}

// view returns project's view, creating it on first use.
func (g *Gateway) view(ctx context.Context, project string) (*view, error) {
	g.mu.Lock()
	v := g.views[project]
	g.mu.Unlock()
	if v != nil {
		if _, err := v.config(ctx); err != nil {
			return nil, err
		}
		return v, nil
	}
	v = &view{g: g, name: project, registered: map[string]map[string]string{}}
	if _, err := v.config(ctx); err != nil {
		return nil, err
	}
	v.state.Store(&viewState{cfg: v.cfg, names: newNames(v.cfg)})
	v.srv = mcp.NewServer(&mcp.Implementation{Name: g.cfg.Name + "/" + project, Version: g.cfg.Version}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{
			Tools:       &mcp.ToolCapabilities{ListChanged: true},
			Prompts:     &mcp.PromptCapabilities{ListChanged: true},
			Resources:   &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
			Logging:     &mcp.LoggingCapabilities{},
			Completions: &mcp.CompletionCapabilities{},
		},
		CompletionHandler:       v.complete,
		SubscribeHandler:        v.subscribe,
		UnsubscribeHandler:      v.unsubscribe,
		RootsListChangedHandler: v.rootsChanged,
		// The SDK logs every session's connect at info: too much for
		// the gateway's log, which has the access log.
		Logger: slog.New(atLeast{g.log.Handler(), slog.LevelWarn}),
	})
	v.srv.AddReceivingMiddleware(v.middleware)
	g.mu.Lock()
	if old := g.views[project]; old != nil {
		g.mu.Unlock()
		return old, nil
	}
	g.views[project] = v
	g.mu.Unlock()
	return v, nil
}

// config returns the project's configuration, asking the source at most
// once per ConfigTTL. A project gone from the source drops the view.
func (v *view) config(ctx context.Context) (*Project, error) {
	v.cfgMu.Lock()
	defer v.cfgMu.Unlock()
	if v.cfg != nil && time.Since(v.cfgAt) < v.g.cfg.ConfigTTL {
		return v.cfg, nil
	}
	p, err := v.g.projects.Project(ctx, v.name)
	if err != nil {
		if errors.Is(err, ErrNoProject) {
			v.g.mu.Lock()
			if v.g.views[v.name] == v {
				delete(v.g.views, v.name)
			}
			v.g.mu.Unlock()
			return nil, err
		}
		if v.cfg == nil {
			return nil, err
		}
		v.g.log.Warn("project configuration could not be read; using the last one", "project", v.name, "err", err)
		v.cfgAt = time.Now()
		return v.cfg, nil
	}
	key, _ := json.Marshal(p)
	if string(key) != v.cfgKey {
		v.cfg, v.cfgKey = p, string(key)
	}
	v.cfgAt = time.Now()
	return v.cfg, nil
}

// sync brings the registry up to date with the configuration and the
// servers' lists (each cached); it changes nothing when neither changed.
func (v *view) sync(ctx context.Context) *viewState {
	cfg, err := v.config(ctx)
	if err != nil {
		return v.state.Load()
	}
	snaps := make([]*snapshot, len(cfg.Servers))
	var wg sync.WaitGroup
	for i, s := range cfg.Servers {
		wg.Go(func() { snaps[i] = v.g.listsOf(ctx, s.Name) })
	}
	wg.Wait()
	var key strings.Builder
	fmt.Fprintf(&key, "%p", cfg)
	for _, s := range snaps {
		key.WriteString("/" + strconv.FormatUint(s.gen, 10))
	}
	v.syncMu.Lock()
	defer v.syncMu.Unlock()
	if key.String() == v.applied {
		return v.state.Load()
	}
	st := v.build(cfg, snaps)
	v.state.Store(st)
	v.applied = key.String()
	return st
}

// build registers the merge of snaps and returns the state that routes
// calls to it.
func (v *view) build(cfg *Project, snaps []*snapshot) *viewState {
	st := &viewState{cfg: cfg, names: newNames(cfg), modes: map[string]string{},
		tools: map[string]ref{}, denied: map[string]ref{}, prompts: map[string]ref{},
		resources: map[string]ref{}, templates: map[string]ref{}, problems: map[string]error{}}
	want := map[string]map[string]func(){"tool": {}, "prompt": {}, "resource": {}, "template": {}}
	jsonOf := map[string]map[string]string{"tool": {}, "prompt": {}, "resource": {}, "template": {}}
	// An item is registered again when what the client sees or what its
	// handler routes to (server, own name, a project prompt's text)
	// changed.
	add := func(kind, name string, item any, route any, register func()) {
		b, _ := json.Marshal([]any{item, route})
		want[kind][name] = register
		jsonOf[kind][name] = string(b)
	}
	for _, p := range cfg.Prompts {
		st.prompts[p.Name] = ref{name: p.Name}
		mp := projectPrompt(p)
		add("prompt", p.Name, mp, p, func() { v.srv.AddPrompt(mp, v.ownPromptHandler(p)) })
	}
	for i, s := range cfg.Servers {
		st.modes[s.Name] = s.SessionMode
		snap := snaps[i]
		if snap.err != nil {
			st.problems[s.Name] = snap.err
		}
		filter := cfg.Filters[s.Name]
		for _, t := range snap.tools {
			name := st.names.item(s.Name, t.Name)
			r := ref{s.Name, t.Name}
			if !toolAllowed(filter, t.Name) {
				st.denied[name] = r
				continue
			}
			if _, dup := st.tools[name]; dup {
				v.g.log.Warn("two tools share one name in a project; the second is left out", "project", v.name, "tool", name, "server", s.Name)
				continue
			}
			if err := checkTool(t); err != nil {
				v.g.log.Warn("a server's tool is left out", "project", v.name, "server", s.Name, "tool", t.Name, "err", err)
				continue
			}
			st.tools[name] = r
			mt := *t
			mt.Name = name
			add("tool", name, &mt, []string{r.server, r.name}, func() { v.srv.AddTool(&mt, v.toolHandler(r)) })
		}
		for _, p := range snap.prompts {
			name := st.names.item(s.Name, p.Name)
			if _, dup := st.prompts[name]; dup {
				v.g.log.Warn("a server's prompt has the name of another prompt of the project; it is left out", "project", v.name, "prompt", name, "server", s.Name)
				continue
			}
			r := ref{s.Name, p.Name}
			st.prompts[name] = r
			mp := *p
			mp.Name = name
			add("prompt", name, &mp, []string{r.server, r.name}, func() { v.srv.AddPrompt(&mp, v.promptHandler(r)) })
		}
		for _, res := range snap.resources {
			uri := st.names.uri(s.Name, res.URI)
			r := ref{s.Name, res.URI}
			st.resources[uri] = r
			mr := *res
			mr.URI = uri
			add("resource", uri, &mr, []string{r.server, r.name}, func() { v.srv.AddResource(&mr, v.resourceHandler()) })
		}
		for _, t := range snap.templates {
			uri := st.names.uri(s.Name, t.URITemplate)
			r := ref{s.Name, t.URITemplate}
			st.templates[uri] = r
			mt := *t
			mt.URITemplate = uri
			add("template", uri, &mt, []string{r.server, r.name}, func() { v.srv.AddResourceTemplate(&mt, v.resourceHandler()) })
		}
	}
	byKind := map[string]map[string]ref{"tool": st.tools, "prompt": st.prompts, "resource": st.resources, "template": st.templates}
	remove := map[string]func(...string){
		"tool": v.srv.RemoveTools, "prompt": v.srv.RemovePrompts,
		"resource": v.srv.RemoveResources, "template": v.srv.RemoveResourceTemplates,
	}
	for kind, items := range want {
		had := v.registered[kind]
		var gone []string
		for name := range had {
			if _, ok := items[name]; !ok {
				gone = append(gone, name)
			}
		}
		if len(gone) > 0 {
			remove[kind](gone...)
		}
		now := map[string]string{}
		for name, register := range items {
			if had[name] == jsonOf[kind][name] {
				now[name] = had[name]
				continue
			}
			if err := safely(register); err != nil {
				v.g.log.Warn("an item could not be offered", "project", v.name, "kind", kind, "name", name, "err", err)
				delete(byKind[kind], name)
				if _, was := had[name]; was {
					remove[kind](name) // the old one would route to the old place
				}
				continue
			}
			now[name] = jsonOf[kind][name]
		}
		v.registered[kind] = now
	}
	return st
}

// atLeast drops records below a level.
type atLeast struct {
	slog.Handler
	min slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return atLeast{h.Handler.WithAttrs(as), h.min}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{h.Handler.WithGroup(name), h.min}
}

// safely runs a registration, turning the SDK's panic on an invalid item
// (a bad URI template, say) into an error.
func safely(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

// checkTool refuses what the SDK would refuse to register.
func checkTool(t *mcp.Tool) error {
	var schema map[string]any
	b, err := json.Marshal(t.InputSchema)
	if err == nil {
		err = json.Unmarshal(b, &schema)
	}
	if err != nil || schema["type"] != "object" {
		return errors.New(`its input schema is not of type "object"`)
	}
	return nil
}

// toolAllowed applies a project's filter to a server's own tool name.
func toolAllowed(f v1.ToolFilter, name string) bool {
	if len(f.Allow) > 0 && !slices.Contains(f.Allow, name) {
		return false
	}
	return !slices.Contains(f.Deny, name)
}

func projectPrompt(p Prompt) *mcp.Prompt {
	desc := "a prompt of the project"
	if len(p.Tags) > 0 {
		desc += " (" + strings.Join(p.Tags, ", ") + ")"
	}
	return &mcp.Prompt{Name: p.Name, Description: desc}
}

func (v *view) ownPromptHandler(p Prompt) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		start := time.Now()
		v.g.record(req.Extra, v.name, ref{name: p.Name}, "prompts/get", start, OutcomeOK, false, "", sessionID(req.Session))
		return &mcp.GetPromptResult{Description: "project prompt " + p.Name,
			Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: p.Text}}}}, nil
	}
}

// middleware keeps the registry fresh for list requests, refuses denied
// tools by name, and forwards a client's log level to its servers.
func (v *view) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
			v.sync(ctx)
		case "tools/call":
			p, _ := req.GetParams().(*mcp.CallToolParamsRaw)
			if p == nil {
				break
			}
			st := v.state.Load()
			if cfg, err := v.config(ctx); err == nil && cfg != st.cfg {
				st = v.sync(ctx) // the filters may have changed
			} else if _, ok := st.tools[p.Name]; !ok {
				st = v.sync(ctx)
			}
			r, denied := st.denied[p.Name]
			if !denied {
				r, denied = st.deniedByName(p.Name)
			}
			if denied {
				v.g.record(req.GetExtra(), v.name, r, method, time.Now(), OutcomeDenied, true, "denied by the project's tool filter", sessionID(req.GetSession()))
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
					"tool %q is denied in project %s by its filter for server %s (spec.tools.%s); ask an admin to allow it", p.Name, v.name, r.server, r.server)}
			}
			if _, ok := st.tools[p.Name]; !ok {
				v.g.record(req.GetExtra(), v.name, ref{name: p.Name}, method, time.Now(), OutcomeError, false, "unknown tool", sessionID(req.GetSession()))
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: v.unknown("tool", p.Name, st)}
			}
		case "prompts/get":
			if p, _ := req.GetParams().(*mcp.GetPromptParams); p != nil {
				if _, ok := v.state.Load().prompts[p.Name]; !ok {
					v.sync(ctx)
				}
			}
		case "resources/read":
			if p, _ := req.GetParams().(*mcp.ReadResourceParams); p != nil {
				return v.read(ctx, req.(*mcp.ReadResourceRequest), next)
			}
		case "logging/setLevel":
			res, err := next(ctx, method, req)
			if err == nil {
				if p, _ := req.GetParams().(*mcp.SetLoggingLevelParams); p != nil {
					if ss, ok := req.GetSession().(*mcp.ServerSession); ok {
						v.g.levels.Store(ss, p.Level)
					}
					v.g.levelChanged(ctx, v, req.GetSession(), p.Level)
				}
			}
			return res, err
		}
		return next(ctx, method, req)
	}
}

// deniedByName finds a tool the project's filters deny from its name
// alone: a server may hide it (mcpd's relay filters too), yet the client
// should hear it is denied, not unknown.
func (st *viewState) deniedByName(name string) (ref, bool) {
	for _, s := range st.cfg.Servers {
		own, ok := name, st.names.passThrough()
		if !ok {
			own, ok = strings.CutPrefix(name, s.Name+st.names.sep)
		}
		if ok && own != "" && !toolAllowed(st.cfg.Filters[s.Name], own) {
			return ref{s.Name, own}, true
		}
	}
	return ref{}, false
}

// unknown is the error message for a name the project does not have.
func (v *view) unknown(kind, name string, st *viewState) string {
	msg := fmt.Sprintf("unknown %s %q in project %s", kind, name, v.name)
	if len(st.problems) > 0 {
		var down []string
		for s := range st.problems {
			down = append(down, s)
		}
		slices.Sort(down)
		msg += fmt.Sprintf("; the lists of %s could not be read just now", strings.Join(down, ", "))
	}
	return msg
}

func sessionID(s mcp.Session) string {
	if s == nil {
		return ""
	}
	return s.ID()
}
