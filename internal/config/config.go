// Package config reads mcpd's configuration from MCPD_* environment
// variables and validates it before anything starts. Every error names the
// variable, the value's problem and what is allowed.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/internal/secret"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Environments.
const (
	Development = "development"
	Production  = "production"
)

// Rate is a number of requests allowed per window. A zero Limit disables
// the limit.
type Rate struct {
	Limit  int
	Window time.Duration
}

// Disabled reports whether the rate imposes no limit.
func (r Rate) Disabled() bool { return r.Limit == 0 }

func (r Rate) String() string {
	if r.Disabled() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Window)
}

// Config is mcpd's validated configuration.
type Config struct {
	// Listen is the TCP address of the HTTP server (MCPD_LISTEN).
	Listen string
	// DataDir holds the SQLite file and first-start files (MCPD_DATA_DIR).
	DataDir string
	// DatabaseURL selects PostgreSQL when set (MCPD_DATABASE_URL).
	DatabaseURL string
	// LogLevel and LogFormat shape the slog output (MCPD_LOG_LEVEL, MCPD_LOG_FORMAT).
	LogLevel  slog.Level
	LogFormat string
	// Environment is development or production (MCPD_ENV).
	Environment string
	// CORSOrigins are the browser origins allowed to call the API (MCPD_CORS_ORIGINS).
	CORSOrigins []string
	// RateLimit applies per principal or client IP (MCPD_RATE_LIMIT).
	RateLimit Rate
	// LoginRateLimit applies to login per client IP and per email (MCPD_LOGIN_RATE_LIMIT).
	LoginRateLimit Rate
	// BodyLimit is the largest request body in bytes (MCPD_BODY_LIMIT).
	BodyLimit int64
	// ShutdownTimeout bounds the drain of in-flight requests (MCPD_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// SessionTTL is the lifetime of a login session (MCPD_SESSION_TTL).
	SessionTTL time.Duration
	// AuthCacheTTL is how long a token look-up is cached in process; it is
	// the bound on how late a logout reaches another replica (MCPD_AUTH_CACHE_TTL).
	AuthCacheTTL time.Duration
	// AuditQueueSize bounds the audit events waiting to be written (MCPD_AUDIT_QUEUE_SIZE).
	AuditQueueSize int
	// BootstrapAdminEmail and BootstrapAdminPassword seed the first admin.
	BootstrapAdminEmail    string
	BootstrapAdminPassword string
	// TrustProxy makes mcpd take the client IP from X-Forwarded-For (MCPD_TRUST_PROXY).
	TrustProxy bool
	// SecretKey holds the keys that encrypt Secret values (MCPD_SECRET_KEY);
	// empty means the key file DATA_DIR/secret-key.
	SecretKey string
	// Instances says whether this mcpd runs server instances (MCPD_INSTANCES).
	Instances bool
	// NodeName names this mcpd among replicas; empty means the name kept
	// in DATA_DIR/node-name (MCPD_NODE_NAME).
	NodeName string
	// LogRetention is how many log lines an instance keeps (MCPD_LOG_RETENTION).
	LogRetention int
	// BackoffBase and BackoffMax bound the crash-loop backoff
	// (MCPD_RESTART_BACKOFF_BASE, MCPD_RESTART_BACKOFF_MAX).
	BackoffBase, BackoffMax time.Duration

	// MCP project endpoints (/projects/{p}/mcp).
	// MCPSessionIdle closes a session no request used for this long (MCPD_MCP_SESSION_IDLE).
	MCPSessionIdle time.Duration
	// MCPMaxSessions bounds the open sessions of one principal (MCPD_MCP_MAX_SESSIONS).
	MCPMaxSessions int
	// MCPBodyLimit is the largest MCP request body (MCPD_MCP_BODY_LIMIT).
	MCPBodyLimit int64
	// MCPMaxResponse refuses a server's answer larger than this (MCPD_MCP_MAX_RESPONSE).
	MCPMaxResponse int64
	// MCPCallTimeout bounds a call that makes no progress (MCPD_MCP_CALL_TIMEOUT).
	MCPCallTimeout time.Duration
	// MCPRateLimit applies to MCP requests per principal (MCPD_MCP_RATE_LIMIT).
	MCPRateLimit Rate
	// MCPAllowedHosts are Host names accepted on a loopback listener
	// besides localhost (MCPD_MCP_ALLOWED_HOSTS).
	MCPAllowedHosts []string
}

// SecretKeyFile is where the secret key lives when MCPD_SECRET_KEY is unset.
func (c *Config) SecretKeyFile() string { return filepath.Join(c.DataDir, "secret-key") }

// Var documents one environment variable; the README table is made from
// the same facts.
type Var struct {
	Name, Default, Allowed string
}

// Vars lists every variable mcpd reads.
var Vars = []Var{
	{"MCPD_LISTEN", "127.0.0.1:3100", "host:port"},
	{"MCPD_DATA_DIR", "$XDG_DATA_HOME/mcpd or ~/.local/share/mcpd", "a directory path (created 0700)"},
	{"MCPD_DATABASE_URL", "(empty: SQLite in the data dir)", "postgres://user:pass@host:5432/db?sslmode=disable"},
	{"MCPD_LOG_LEVEL", "info", "debug, info, warn, error"},
	{"MCPD_LOG_FORMAT", "text (json in production)", "text, json"},
	{"MCPD_ENV", "development", "development, production"},
	{"MCPD_CORS_ORIGINS", "(empty: no cross-origin access)", "comma-separated origins like https://app.example.com; * only in development"},
	{"MCPD_RATE_LIMIT", "100/1m", "N/duration per principal or IP, or off"},
	{"MCPD_LOGIN_RATE_LIMIT", "10/1m", "N/duration per client IP and per email, or off"},
	{"MCPD_BODY_LIMIT", "1MiB", "bytes, with optional KiB/MiB suffix, 1KiB..64MiB"},
	{"MCPD_SHUTDOWN_TIMEOUT", "30s", "Go duration, 0s..10m"},
	{"MCPD_SESSION_TTL", "24h", "Go duration, 1m..720h"},
	{"MCPD_AUTH_CACHE_TTL", "5s", "Go duration, 0s..1m (0 disables the cache)"},
	{"MCPD_AUDIT_QUEUE_SIZE", "10000", "integer, 100..1000000"},
	{"MCPD_BOOTSTRAP_ADMIN_EMAIL", "admin@mcpctl.local", "an email address"},
	{"MCPD_BOOTSTRAP_ADMIN_PASSWORD", "(generated, written to DATA_DIR/bootstrap-admin-password)", "at least 12 characters"},
	{"MCPD_TRUST_PROXY", "false", "true, false: take the client IP from X-Forwarded-For"},
	{"MCPD_SECRET_KEY", "(empty: key file DATA_DIR/secret-key, created 0600 on first start)", "base64 of 32 random bytes (`openssl rand -base64 32`); a comma-separated list during rotation, the first encrypts"},
	{"MCPD_INSTANCES", "on", "on, off (off: this mcpd runs no server instances, only serves the API)"},
	{"MCPD_NODE_NAME", "(generated, kept in DATA_DIR/node-name)", "lower-case letters, digits and -, up to 63; unique per replica"},
	{"MCPD_LOG_RETENTION", "10000", "log lines kept per instance, 100..1000000"},
	{"MCPD_RESTART_BACKOFF_BASE", "1s", "Go duration, 10ms..1m: the first crash-loop delay, doubled per crash"},
	{"MCPD_RESTART_BACKOFF_MAX", "5m", "Go duration, 100ms..1h: the longest crash-loop delay"},
	{"MCPD_MCP_SESSION_IDLE", "30m", "Go duration, 10s..24h: an MCP session no request used for this long is closed"},
	{"MCPD_MCP_MAX_SESSIONS", "64", "open MCP sessions per principal, 1..10000"},
	{"MCPD_MCP_BODY_LIMIT", "4MiB", "bytes, with optional KiB/MiB suffix, 1KiB..64MiB: the largest MCP request"},
	{"MCPD_MCP_MAX_RESPONSE", "16MiB", "bytes, with optional KiB/MiB suffix, 1KiB..256MiB: a server's larger answer is refused"},
	{"MCPD_MCP_CALL_TIMEOUT", "60s", "Go duration, 1s..1h: a call without progress for this long is cancelled"},
	{"MCPD_MCP_RATE_LIMIT", "6000/1m", "N/duration of MCP requests per principal, or off"},
	{"MCPD_MCP_ALLOWED_HOSTS", "(empty: localhost names only)", "comma-separated Host names the MCP endpoint accepts on a loopback listener besides localhost (DNS-rebinding guard)"},
}

// Load reads the configuration from getenv (os.Getenv in production) and
// returns every problem found, not only the first.
func Load(getenv func(string) string) (*Config, error) {
	p := parser{getenv: getenv}
	c := &Config{}
	c.Listen = p.str("MCPD_LISTEN", "127.0.0.1:3100")
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		p.fail("MCPD_LISTEN", c.Listen, "must be host:port such as 127.0.0.1:3100")
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail("MCPD_LISTEN", c.Listen, "port must be a number 0..65535")
	}
	c.DataDir = p.str("MCPD_DATA_DIR", defaultDataDir(getenv))
	if c.DataDir == "" {
		p.fail("MCPD_DATA_DIR", "", "set it to a directory: no home directory to default to")
	}
	c.DatabaseURL = p.str("MCPD_DATABASE_URL", "")
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			p.failSecret("MCPD_DATABASE_URL", "must be a PostgreSQL URL such as postgres://user:pass@host:5432/db?sslmode=disable, or empty for SQLite")
		}
	}
	c.Environment = p.oneOf("MCPD_ENV", Development, Development, Production)
	switch lv := p.oneOf("MCPD_LOG_LEVEL", "info", "debug", "info", "warn", "error"); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		c.LogLevel = slog.LevelInfo
	}
	defFormat := "text"
	if c.Environment == Production {
		defFormat = "json"
	}
	c.LogFormat = p.oneOf("MCPD_LOG_FORMAT", defFormat, "text", "json")
	c.CORSOrigins = p.origins("MCPD_CORS_ORIGINS", c.Environment)
	c.RateLimit = p.rate("MCPD_RATE_LIMIT", Rate{100, time.Minute})
	c.LoginRateLimit = p.rate("MCPD_LOGIN_RATE_LIMIT", Rate{10, time.Minute})
	c.BodyLimit = p.size("MCPD_BODY_LIMIT", 1<<20, 1<<10, 64<<20)
	c.ShutdownTimeout = p.duration("MCPD_SHUTDOWN_TIMEOUT", 30*time.Second, 0, 10*time.Minute)
	c.SessionTTL = p.duration("MCPD_SESSION_TTL", 24*time.Hour, time.Minute, 720*time.Hour)
	c.AuthCacheTTL = p.duration("MCPD_AUTH_CACHE_TTL", 5*time.Second, 0, time.Minute)
	c.AuditQueueSize = p.integer("MCPD_AUDIT_QUEUE_SIZE", 10000, 100, 1000000)
	c.BootstrapAdminEmail = p.str("MCPD_BOOTSTRAP_ADMIN_EMAIL", "admin@mcpctl.local")
	if msg := v1.ValidateEmail(c.BootstrapAdminEmail); msg != "" {
		// The same rule as login's, or the admin could never log in.
		p.fail("MCPD_BOOTSTRAP_ADMIN_EMAIL", c.BootstrapAdminEmail, msg)
	}
	c.BootstrapAdminPassword = getenv("MCPD_BOOTSTRAP_ADMIN_PASSWORD")
	if c.BootstrapAdminPassword != "" && len([]rune(c.BootstrapAdminPassword)) < 12 {
		p.failSecret("MCPD_BOOTSTRAP_ADMIN_PASSWORD", "must be at least 12 characters, or unset to have mcpd generate one")
	}
	c.TrustProxy = p.boolean("MCPD_TRUST_PROXY", false)
	c.SecretKey = getenv("MCPD_SECRET_KEY")
	if c.SecretKey != "" {
		if _, err := secret.ParseKeys(c.SecretKey); err != nil {
			p.failSecret("MCPD_SECRET_KEY", err.Error())
		}
	}
	c.Instances = p.oneOf("MCPD_INSTANCES", "on", "on", "off") == "on"
	c.NodeName = p.str("MCPD_NODE_NAME", "")
	if c.NodeName != "" {
		if msg := v1.ValidateName(c.NodeName); msg != "" {
			p.fail("MCPD_NODE_NAME", c.NodeName, msg)
		}
	}
	c.LogRetention = p.integer("MCPD_LOG_RETENTION", 10000, 100, 1000000)
	c.BackoffBase = p.duration("MCPD_RESTART_BACKOFF_BASE", time.Second, 10*time.Millisecond, time.Minute)
	c.BackoffMax = p.duration("MCPD_RESTART_BACKOFF_MAX", 5*time.Minute, 100*time.Millisecond, time.Hour)
	c.MCPSessionIdle = p.duration("MCPD_MCP_SESSION_IDLE", 30*time.Minute, 10*time.Second, 24*time.Hour)
	c.MCPMaxSessions = p.integer("MCPD_MCP_MAX_SESSIONS", 64, 1, 10000)
	c.MCPBodyLimit = p.size("MCPD_MCP_BODY_LIMIT", 4<<20, 1<<10, 64<<20)
	c.MCPMaxResponse = p.size("MCPD_MCP_MAX_RESPONSE", 16<<20, 1<<10, 256<<20)
	c.MCPCallTimeout = p.duration("MCPD_MCP_CALL_TIMEOUT", time.Minute, time.Second, time.Hour)
	c.MCPRateLimit = p.rate("MCPD_MCP_RATE_LIMIT", Rate{6000, time.Minute})
	c.MCPAllowedHosts = p.hosts("MCPD_MCP_ALLOWED_HOSTS")
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "mcpd")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "mcpd")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "mcpd")
	}
	return ""
}

type parser struct {
	getenv func(string) string
	errs   []error
}

// get reads a variable with surrounding whitespace removed.
func (p *parser) get(name string) string { return strings.TrimSpace(p.getenv(name)) }

func (p *parser) fail(name, value, allowed string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q is invalid: %s", name, value, allowed))
}

// failSecret reports a problem without echoing the value, which may hold a
// password.
func (p *parser) failSecret(name, allowed string) {
	p.errs = append(p.errs, fmt.Errorf("%s is invalid: %s", name, allowed))
}

func (p *parser) str(name, def string) string {
	if v := p.get(name); v != "" {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(p.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v := p.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "must be true or false")
	}
	return b
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v := p.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := p.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		p.fail(name, v, fmt.Sprintf("must be a duration such as 30s or 5m, from %s to %s", lo, hi))
		return def
	}
	return d
}

func (p *parser) size(name string, def, lo, hi int64) int64 {
	v := p.get(name)
	if v == "" {
		return def
	}
	n, ok := ParseSize(v)
	if !ok || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be a size in bytes such as 1048576, 512KiB or 1MiB, from %d to %d bytes", lo, hi))
		return def
	}
	return n
}

// ParseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func ParseSize(v string) (int64, bool) {
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, s.suffix) {
			v, mult = strings.TrimSuffix(v, s.suffix), s.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, false
	}
	return n * mult, true
}

func (p *parser) rate(name string, def Rate) Rate {
	v := p.get(name)
	if v == "" {
		return def
	}
	if strings.EqualFold(v, "off") {
		return Rate{}
	}
	n, w, ok := strings.Cut(v, "/")
	limit, err1 := strconv.Atoi(n)
	window, err2 := time.ParseDuration(w)
	if !ok || err1 != nil || err2 != nil || limit < 1 || limit > 1_000_000_000 || window < time.Second || window > 24*time.Hour {
		p.fail(name, v, "must be N/duration such as 100/1m (N from 1, window from 1s to 24h), or off")
		return def
	}
	return Rate{Limit: limit, Window: window}
}

// hosts reads a comma-separated list of host names.
func (p *parser) hosts(name string) []string {
	var out []string
	for _, h := range strings.Split(p.get(name), ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/:@ ") {
			p.fail(name, h, "each entry must be a bare host name such as mcp.example.com (no scheme, port or path)")
			continue
		}
		out = append(out, strings.ToLower(h))
	}
	return out
}

func (p *parser) origins(name, env string) []string {
	v := p.get(name)
	if v == "" {
		return nil
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" {
			if env == Production {
				p.fail(name, v, "* is allowed only with MCPD_ENV=development; list the origins, e.g. https://app.example.com")
				return nil
			}
			out = append(out, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			p.fail(name, o, "each origin must be scheme://host[:port] such as https://app.example.com")
			continue
		}
		out = append(out, strings.TrimSuffix(o, "/"))
	}
	return out
}
