// Package mcplocal is the gateway on the user's side (DESIGN.md §2): the
// engine of internal/gateway wired three ways.
//
//   - mcplocal stdio --project P: one desktop client on STDIO; the
//     project from mcpd's API and its servers through mcpd's per-server
//     relay, both with the user's mcpctl login.
//   - mcplocal serve: Streamable HTTP at /projects/{p}/mcp for clients
//     that present an McpToken, checked through mcpd's introspect
//     endpoint (30 s positive, 5 s negative cache); each token's calls go
//     to mcpd's relay with that token, so mcpd's RBAC and audit apply.
//   - mcplocal serve -f project.yaml (or stdio -f): standalone, no mcpd:
//     the file's servers run as local processes; calls are audited as
//     JSON lines.
//
// Secrets never leave mcpd: with mcpd, servers run there and mcplocal
// reaches them through the relay.
package mcplocal

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/internal/cli"
	"github.com/mcpctl/mcpctl/internal/gateway"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const usage = `mcplocal: the MCP gateway on your side.

Usage:
  mcplocal stdio --project P [--context NAME]   serve project P on STDIO (uses your mcpctl login)
  mcplocal stdio -f project.yaml                 serve a project file on STDIO, without mcpd
  mcplocal serve                                 Streamable HTTP at /projects/{p}/mcp; clients present McpTokens
  mcplocal serve -f project.yaml                 the same for a project file, without mcpd
  mcplocal version

Environment:
  MCPLOCAL_MCPD_URL    mcpd to use in HTTP mode (serve without -f)
  MCPLOCAL_HTTP_HOST   address to listen on (default 127.0.0.1)
  MCPLOCAL_HTTP_PORT   port to listen on (default 3200)
  MCPLOCAL_CACHE_DIR   where project configurations are cached (default ~/.cache/mcplocal)
  MCPLOCAL_TOKEN       with -f: the bearer token clients must present (default: none needed)
  MCPLOCAL_AUDIT_FILE  with -f: where call events go as JSON lines (default stderr)
  MCPLOCAL_LOG_LEVEL   debug, info, warn or error (default info)
  MCPCTL_CONTEXT       stdio: the mcpctl context to use (default the current one)
`

// Main runs mcplocal with args (the program name excluded) and returns
// the exit code: 0, 1 on a failure, 2 on a usage error.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := newLogger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "mcplocal", v1.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "stdio":
		err = runStdio(ctx, args[1:], stdin, stdout, log)
	case "serve":
		err = runServe(ctx, args[1:], log)
	default:
		fmt.Fprintf(stderr, "mcplocal: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mcplocal: %v\n", err)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "mcplocal: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(os.Getenv("MCPLOCAL_LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// engine is one wiring of the gateway.
type engine struct {
	gw     *gateway.Gateway
	dialer *gateway.TransportDialer
}

func (e *engine) close() {
	e.gw.Close()
	e.dialer.Close()
}

// standalone wires the engine to a project file.
func standalone(file string, metrics *gateway.Metrics, audit gateway.AuditSink, log *slog.Logger) (*engine, *fileProject, error) {
	fp, err := loadFile(file)
	if err != nil {
		return nil, nil, err
	}
	dir, err := cacheDir()
	if err != nil {
		return nil, nil, err
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", work, err)
	}
	rt, err := process.New(process.Config{Node: "mcplocal-" + strconv.Itoa(os.Getpid()), Dir: work})
	if err != nil {
		return nil, nil, err
	}
	d := gateway.NewTransportDialer(localTransports(fp, rt, log))
	gw := gateway.New(gateway.Config{}, gateway.Deps{Projects: fp, Upstreams: d, Audit: audit, Metrics: metrics, Log: log})
	return &engine{gw: gw, dialer: d}, fp, nil
}

// remote wires the engine to mcpd with one bearer.
func remote(mcpdURL, project, token string, metrics *gateway.Metrics, log *slog.Logger) (*engine, error) {
	api, err := client.New(mcpdURL, client.Options{Token: token})
	if err != nil {
		return nil, err
	}
	dir, err := cacheDir()
	if err != nil {
		return nil, err
	}
	d := gateway.NewTransportDialer(relayTransports(strings.TrimRight(mcpdURL, "/"), project, token))
	d.ConnectTimeout = 30 * time.Second
	// mcpd audits each call at its relay; what mcplocal decides alone
	// (a denied or unknown tool, a project prompt) is audited here.
	gw := gateway.New(gateway.Config{}, gateway.Deps{Projects: &remoteProjects{api: api, cache: dir, log: log, saved: map[string]string{}}, Upstreams: d,
		Audit: &jsonAudit{w: auditWriter()}, Metrics: metrics, Log: log})
	return &engine{gw: gw, dialer: d}, nil
}

func cacheDir() (string, error) {
	if d := os.Getenv("MCPLOCAL_CACHE_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set MCPLOCAL_CACHE_DIR (%w)", err)
	}
	return filepath.Join(base, "mcplocal"), nil
}

// runStdio serves one project on STDIO until the client closes it.
func runStdio(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("stdio", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	project := fs.String("project", "", "the project to serve")
	fs.StringVar(project, "p", "", "the project to serve")
	file := fs.String("f", "", "a standalone project file")
	contextName := fs.String("context", os.Getenv("MCPCTL_CONTEXT"), "the mcpctl context")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error() + "; usage: mcplocal stdio --project P | -f project.yaml"}
	}
	metrics := gateway.NewMetricsIn(nil, "mcplocal")
	var eng *engine
	name := *project
	switch {
	case *file != "" && *project != "":
		return usageError{"give --project or -f, not both"}
	case *file != "":
		e, fp, err := standalone(*file, metrics, &jsonAudit{w: auditWriter()}, log)
		if err != nil {
			return err
		}
		eng, name = e, fp.project.Name
	case *project != "":
		if msg := v1.ValidateName(*project); msg != "" {
			return usageError{fmt.Sprintf("--project %q %s", *project, msg)}
		}
		url, token, err := login(*contextName)
		if err != nil {
			return err
		}
		if eng, err = remote(url, *project, token, metrics, log); err != nil {
			return err
		}
	default:
		return usageError{"mcplocal stdio needs --project P (with your mcpctl login) or -f project.yaml"}
	}
	defer eng.close()
	srv, err := eng.gw.Server(ctx, name)
	if err != nil {
		return err
	}
	log.Info("serving on STDIO", "project", name)
	t := &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}}
	if err := srv.Run(ctx, t); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// login reads the mcpd URL and session of the mcpctl context.
func login(contextName string) (string, string, error) {
	path, err := cli.ConfigPath()
	if err != nil {
		return "", "", err
	}
	cfg, err := cli.LoadConfig(path)
	if err != nil {
		return "", "", err
	}
	if contextName == "" {
		contextName = cfg.CurrentContext
	}
	c, ok := cfg.Context(contextName)
	if !ok || c.Token == "" {
		return "", "", fmt.Errorf("no mcpctl login (context %q in %s): run `mcpctl login --mcpd-url URL --email EMAIL` first", contextName, path)
	}
	if !c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt) {
		return "", "", fmt.Errorf("the mcpctl login of context %q expired at %s: run `mcpctl login` again", c.Name, c.ExpiresAt.Format(time.RFC3339))
	}
	return c.MCPDURL, c.Token, nil
}

func auditWriter() io.Writer {
	if f := os.Getenv("MCPLOCAL_AUDIT_FILE"); f != "" {
		w, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			return w
		}
		fmt.Fprintf(os.Stderr, "mcplocal: MCPLOCAL_AUDIT_FILE %s: %v; auditing to stderr\n", f, err)
	}
	return os.Stderr
}

// runServe is HTTP mode, against mcpd or standalone.
func runServe(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("f", "", "a standalone project file")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error() + "; usage: mcplocal serve [-f project.yaml]"}
	}
	host := envOr("MCPLOCAL_HTTP_HOST", "127.0.0.1")
	port := envOr("MCPLOCAL_HTTP_PORT", "3200")
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usageError{fmt.Sprintf("MCPLOCAL_HTTP_PORT=%q is not a port (0 to 65535)", port)}
	}
	reg := prometheus.NewRegistry()
	metrics := gateway.NewMetricsIn(reg, "mcplocal")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	var closeAll func(context.Context)
	if *file != "" {
		eng, fp, err := standalone(*file, metrics, &jsonAudit{w: auditWriter()}, log)
		if err != nil {
			return err
		}
		var auth gateway.Authenticator
		if tok := os.Getenv("MCPLOCAL_TOKEN"); tok != "" {
			auth = staticToken{token: tok}
		} else if !gateway.IsLoopback(host) {
			log.Warn("listening beyond loopback without MCPLOCAL_TOKEN: anyone who reaches the port can call the servers", "host", host)
		}
		edge := gateway.NewEdge(edgeConfig(), eng.gw, auth, nil, log)
		handle := func(w http.ResponseWriter, r *http.Request) { edge.ServeProject(w, r, r.PathValue("project")) }
		mux.HandleFunc("/projects/{project}/mcp", handle)
		mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) { edge.ServeProject(w, r, fp.project.Name) })
		closeAll = func(ctx context.Context) { edge.Close(ctx); eng.close() }
		log.Info("standalone project", "project", fp.project.Name, "file", *file)
	} else {
		mcpdURL := os.Getenv("MCPLOCAL_MCPD_URL")
		if mcpdURL == "" {
			return usageError{"mcplocal serve needs MCPLOCAL_MCPD_URL (the mcpd to use), or -f project.yaml to run without mcpd"}
		}
		if _, err := client.ParseURL(mcpdURL); err != nil {
			return usageError{"MCPLOCAL_MCPD_URL: " + err.Error()}
		}
		t := newTenants(strings.TrimRight(mcpdURL, "/"), metrics, log)
		mux.HandleFunc("/projects/{project}/mcp", t.serve)
		closeAll = t.close
		log.Info("HTTP mode", "mcpd", mcpdURL)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("listen on %s:%s: %w; set MCPLOCAL_HTTP_HOST/MCPLOCAL_HTTP_PORT", host, port, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Sessions hold GET streams open: closing them lets the shutdown
	// finish; the engines (and the processes they run) are closed after.
	var once sync.Once
	closing := make(chan struct{})
	srv.RegisterOnShutdown(func() {
		once.Do(func() {
			defer close(closing)
			cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			closeAll(cctx)
		})
	})
	log.Info("mcplocal listening", "url", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	<-closing // the servers' processes are stopped before mcplocal exits
	return nil
}

func edgeConfig() gateway.EdgeConfig {
	return gateway.EdgeConfig{Settings: map[string]string{"origins": "an allowed origin (mcplocal allows same-origin only)", "hosts": "a loopback name"}}
}

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}
