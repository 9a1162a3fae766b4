// Package server wires mcpd together and runs it: configuration, store,
// bootstrap, the API, and a graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/internal/apiserver"
	"github.com/mcpctl/mcpctl/internal/audit"
	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/telemetry"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

const usage = `mcpd is the mcpctl daemon: REST API, store, auth and audit.

Usage:
  mcpd [serve]    run the daemon (configured by MCPD_* environment variables)
  mcpd rotate-secret-key
                  re-encrypt every secret value with a new key (see README)
  mcpd version    print the version
  mcpd help       print this help

Configuration is documented in the README ("Configuration").
`

// Main runs the mcpd command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "mcpd: serve takes no arguments (got %q); configure it with MCPD_* variables\n", args[1:])
			return 2
		}
		return serve(stderr)
	case "rotate-secret-key":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "mcpd: rotate-secret-key takes no arguments (got %q)\n", args[1:])
			return 2
		}
		return rotateSecretKey(stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mcpd", v1.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mcpd: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func serve(stderr io.Writer) int {
	if os.Getenv("GOGC") == "" {
		// Each MCP call decodes and encodes every message twice (as a
		// server and as a client); the collector paced for Go's default
		// took a fifth of mcpd's CPU under load. mcpd's heap is small:
		// trading some memory for fewer collections pays. GOGC set in the
		// environment wins.
		debug.SetGCPercent(400)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mcpd: configuration error:\n%v\n", err)
		return 1
	}
	log := NewLogger(cfg, stderr)

	// The first SIGTERM or SIGINT starts a graceful shutdown; a second one
	// exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		log.Info("signal received; shutting down gracefully (send it again to exit at once)", "signal", sig.String(),
			"timeout", cfg.ShutdownTimeout)
		cancel()
		sig = <-sigs
		log.Warn("second signal; exiting now", "signal", sig.String())
		os.Exit(1)
	}()

	if err := Run(ctx, cfg, Deps{Log: log}); err != nil {
		log.Error("mcpd stopped", "err", err)
		return 1
	}
	return 0
}

// NewLogger builds the slog logger the configuration asks for.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Deps are what Run takes from its caller.
type Deps struct {
	Log *slog.Logger
	// Ready, when set, receives the bound address once mcpd accepts
	// connections (tests listen on port 0).
	Ready func(addr string)
}

// Run serves until ctx ends, then shuts down gracefully: stop accepting,
// drain in-flight requests within cfg.ShutdownTimeout, flush the audit
// queue, close the store.
func Run(ctx context.Context, cfg *config.Config, d Deps) error {
	log := d.Log
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s (MCPD_DATA_DIR): %w", cfg.DataDir, err)
	}
	// Take the port first: a taken address fails the start before the
	// store is touched.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; set MCPD_LISTEN to a free address", cfg.Listen, err)
	}
	defer ln.Close() // Serve closes it too; this covers the early returns
	if cfg.DatabaseURL != "" && cfg.SecretKey == "" && cfg.Environment == config.Production {
		// A key file is per host: replicas would each seal with their own
		// key and could not read each other's values.
		return errors.New("MCPD_SECRET_KEY is required with PostgreSQL in production: every replica must seal secrets with the same key (generate one with `openssl rand -base64 32`)")
	}
	keys, src, err := secret.Load(cfg.SecretKey, cfg.SecretKeyFile())
	if err != nil {
		return err
	}
	if src.Created {
		log.Info("created the secret key file; back it up with the data: without it stored secret values cannot be read",
			"file", src.File, "key_id", keys.CurrentID())
	}
	if cfg.DatabaseURL != "" && !src.Env {
		log.Warn("MCPD_SECRET_KEY is not set: with PostgreSQL every mcpd replica must use the same secret key; set MCPD_SECRET_KEY on each",
			"key_file", src.File)
	}
	st, err := store.Open(ctx, store.Options{PostgresURL: cfg.DatabaseURL, SQLitePath: filepath.Join(cfg.DataDir, "mcpd.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	where := filepath.Join(cfg.DataDir, "mcpd.db")
	if cfg.DatabaseURL != "" {
		where = store.RedactURL(cfg.DatabaseURL)
	}
	log.Info("store ready", "engine", st.Dialect(), "at", where,
		"rate_limit", cfg.RateLimit, "login_rate_limit", cfg.LoginRateLimit)

	if unknown, err := unknownSecretKeys(ctx, st, keys); err != nil {
		return err
	} else if len(unknown) > 0 {
		log.Warn("some secret values are encrypted with keys mcpd does not have; they cannot be read until those keys are in MCPD_SECRET_KEY or the key file",
			"key_ids", unknown)
	}

	adminEmail, adminFile, err := bootstrapAdmin(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	if err := ensureAdminGroup(ctx, st, adminEmail, log); err != nil {
		return err
	}

	var writer *audit.Writer
	metrics := telemetry.New(func() float64 { return float64(writer.Depth()) })
	writer = audit.NewWriter(audit.Config{QueueSize: cfg.AuditQueueSize}, st, log,
		audit.Counters{Written: metrics.AuditWritten, Dropped: metrics.AuditDropped, WriteErrors: metrics.AuditWriteErrors})
	authn := auth.New(auth.Config{SessionTTL: cfg.SessionTTL, CacheTTL: cfg.AuthCacheTTL}, st)
	authorizer := authz.New(authz.Config{CacheTTL: cfg.AuthCacheTTL}, st)
	node, err := nodeName(cfg)
	if err != nil {
		return err
	}
	mcpgw := newGateway(cfg, st, writer, metrics, node, log)
	defer mcpgw.close()
	mgr, err := instances(cfg, node, st, keys, metrics, mcpgw.gw, log)
	if err != nil {
		return err
	}
	mcpgw.dialer.mgr = mgr
	deps := apiserver.Deps{Store: st, Auth: authn, Authz: authorizer, Audit: writer, Metrics: metrics, Secrets: keys, Log: log, MCP: mcpgw.edge, MCPHealth: mcpgw.health}
	if mgr != nil {
		deps.Instances = mgr
	}
	api := apiserver.New(apiserver.Config{
		Production: cfg.Environment == config.Production, CORSOrigins: cfg.CORSOrigins,
		RateLimit: cfg.RateLimit, LoginRateLimit: cfg.LoginRateLimit, BodyLimit: cfg.BodyLimit, TrustProxy: cfg.TrustProxy,
		MCPBodyLimit: cfg.MCPBodyLimit, MCPRateLimit: cfg.MCPRateLimit,
	}, deps)

	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		// Streaming handlers (log follow, MCP streams) extend their own
		// deadline with http.ResponseController.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// MCP sessions hold GET streams open: end them as the shutdown starts
	// (their records stay, for another replica to resume them).
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := mcpgw.edge.Close(ctx); err != nil {
			log.Warn("MCP sessions still open at the shutdown timeout", "err", err)
		}
	})
	url := "http://" + ln.Addr().String()
	log.Info("mcpd listening", "url", url, "version", v1.Version)
	hint := fmt.Sprintf("log in with: mcpctl login --mcpd-url %s --email %s", url, adminEmail)
	if adminFile != "" {
		hint += " (the password is in " + adminFile + ")"
	}
	log.Info(hint)
	if d.Ready != nil {
		d.Ready(ln.Addr().String())
	}

	janitorCtx, stopJanitor := context.WithCancel(context.Background())
	defer stopJanitor()
	go sessionJanitor(janitorCtx, st, log)
	usageDone := make(chan struct{})
	go func() { defer close(usageDone); flushTokenUsage(janitorCtx, authn, log) }()
	instancesCtx, stopInstances := context.WithCancel(context.Background())
	defer stopInstances()
	instancesDone := runInstances(instancesCtx, mgr)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		stopInstances()
		instancesDone()
		writer.Close(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("draining in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timeout reached; closing the remaining connections", "err", err)
		srv.Close()
		// Close does not wait for handlers: give them a moment to see their
		// connection gone, so their audit events are queued before the
		// flush and they do not query a closed store.
		gctx, gcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := api.WaitIdle(gctx); err != nil {
			log.Warn("handlers still running after the shutdown timeout; their audit events may be lost")
		}
		gcancel()
	}
	<-serveErr
	// Instances stop after the last request: process instances are
	// stopped (and start again with mcpd), containers keep running.
	log.Info("stopping instances")
	stopInstances()
	instancesDone()
	stopJanitor()
	<-usageDone
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	if err := authn.FlushUsage(fctx); err != nil {
		log.Warn("McpToken last-use times not written", "err", err)
	}
	if err := writer.Close(fctx); err != nil {
		log.Warn("audit queue not fully flushed", "err", err)
	}
	log.Info("mcpd stopped cleanly")
	return nil
}

// TokenUsageInterval is how often McpToken last-use times are written: a
// request never waits on that write, and lastUsedAt lags by at most this.
const TokenUsageInterval = 10 * time.Second

// flushTokenUsage writes McpToken last-use times in batches until ctx ends.
func flushTokenUsage(ctx context.Context, a *auth.Authenticator, log *slog.Logger) {
	t := time.NewTicker(TokenUsageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.FlushUsage(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("McpToken last-use times not written; will retry", "err", err)
			}
		}
	}
}

// sessionJanitor deletes sessions that expired more than a day ago, hourly.
func sessionJanitor(ctx context.Context, st store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := st.DeleteSessionsBefore(ctx, time.Now().Add(-24*time.Hour))
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("delete expired sessions", "err", err)
			} else if n > 0 {
				log.Debug("deleted expired sessions", "count", n)
			}
		}
	}
}
