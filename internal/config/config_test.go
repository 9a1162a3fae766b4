package config_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mcpctl/mcpctl/internal/config"
)

// env is a getenv backed by a map, so tests never touch the process
// environment and can run in parallel.
func env(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// defaults is the configuration Load returns for an empty environment,
// apart from DataDir, which depends on the home directory.
func defaults() *config.Config {
	return &config.Config{
		Listen:              "127.0.0.1:3100",
		LogLevel:            slog.LevelInfo,
		LogFormat:           "text",
		Environment:         config.Development,
		RateLimit:           config.Rate{Limit: 100, Window: time.Minute},
		LoginRateLimit:      config.Rate{Limit: 10, Window: time.Minute},
		BodyLimit:           1 << 20,
		ShutdownTimeout:     30 * time.Second,
		SessionTTL:          24 * time.Hour,
		AuthCacheTTL:        5 * time.Second,
		AuditQueueSize:      10000,
		BootstrapAdminEmail: "admin@mcpctl.local",
		Instances:           true,
		LogRetention:        10000,
		BackoffBase:         time.Second,
		BackoffMax:          5 * time.Minute,
		MCPSessionIdle:      30 * time.Minute,
		MCPMaxSessions:      64,
		MCPBodyLimit:        4 << 20,
		MCPMaxResponse:      16 << 20,
		MCPCallTimeout:      time.Minute,
		MCPRateLimit:        config.Rate{Limit: 6000, Window: time.Minute},
	}
}

// ignoreDataDir leaves out the one default that comes from outside getenv
// when neither XDG_DATA_HOME nor HOME is given.
var ignoreDataDir = cmpopts.IgnoreFields(config.Config{}, "DataDir")

// loadCase is an environment and how the result differs from defaults().
type loadCase struct {
	name string
	env  map[string]string
	want func(c *config.Config)
}

func runLoadCases(t *testing.T, tests []loadCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(want)
			if diff := cmp.Diff(want, got, ignoreDataDir); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	tests := []loadCase{
		{
			name: "empty environment",
			env:  map[string]string{},
			want: func(c *config.Config) {},
		},
		{
			name: "production logs json by default",
			env:  map[string]string{"MCPD_ENV": "production"},
			want: func(c *config.Config) {
				c.Environment = config.Production
				c.LogFormat = "json"
			},
		},
		{
			name: "production keeps an explicit text format",
			env:  map[string]string{"MCPD_ENV": "production", "MCPD_LOG_FORMAT": "text"},
			want: func(c *config.Config) {
				c.Environment = config.Production
				c.LogFormat = "text"
			},
		},
	}
	runLoadCases(t, tests)
}

func TestLoadDataDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{"MCPD_DATA_DIR": "/srv/mcpd", "HOME": "/home/u"}, "/srv/mcpd"},
		{"XDG_DATA_HOME", map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, filepath.Join("/xdg", "mcpd")},
		{"HOME", map[string]string{"HOME": "/home/u"}, filepath.Join("/home/u", ".local", "share", "mcpd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.DataDir); diff != "" {
				t.Errorf("DataDir mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadValidValues(t *testing.T) {
	t.Parallel()
	tests := []loadCase{
		{
			name: "rate limit off",
			env:  map[string]string{"MCPD_RATE_LIMIT": "off"},
			want: func(c *config.Config) { c.RateLimit = config.Rate{} },
		},
		{
			name: "login rate limit OFF in capitals",
			env:  map[string]string{"MCPD_LOGIN_RATE_LIMIT": "OFF"},
			want: func(c *config.Config) { c.LoginRateLimit = config.Rate{} },
		},
		{
			name: "rate limit",
			env:  map[string]string{"MCPD_RATE_LIMIT": "5/1s"},
			want: func(c *config.Config) { c.RateLimit = config.Rate{Limit: 5, Window: time.Second} },
		},
		{
			name: "wildcard CORS in development",
			env:  map[string]string{"MCPD_CORS_ORIGINS": "*"},
			want: func(c *config.Config) { c.CORSOrigins = []string{"*"} },
		},
		{
			name: "CORS origins trimmed",
			env:  map[string]string{"MCPD_CORS_ORIGINS": "https://app.example.com, http://localhost:5173/,"},
			want: func(c *config.Config) {
				c.CORSOrigins = []string{"https://app.example.com", "http://localhost:5173"}
			},
		},
		{
			name: "body limit with suffix",
			env:  map[string]string{"MCPD_BODY_LIMIT": "512KiB"},
			want: func(c *config.Config) { c.BodyLimit = 512 << 10 },
		},
		{
			name: "log level in capitals",
			env:  map[string]string{"MCPD_LOG_LEVEL": "DEBUG"},
			want: func(c *config.Config) { c.LogLevel = slog.LevelDebug },
		},
		{
			name: "auth cache disabled",
			env:  map[string]string{"MCPD_AUTH_CACHE_TTL": "0s"},
			want: func(c *config.Config) { c.AuthCacheTTL = 0 },
		},
		{
			name: "PostgreSQL URL",
			env:  map[string]string{"MCPD_DATABASE_URL": "postgres://u:p@db:5432/mcpd?sslmode=disable"},
			want: func(c *config.Config) { c.DatabaseURL = "postgres://u:p@db:5432/mcpd?sslmode=disable" },
		},
		{
			name: "bootstrap admin",
			env: map[string]string{
				"MCPD_BOOTSTRAP_ADMIN_EMAIL":    "root@example.com",
				"MCPD_BOOTSTRAP_ADMIN_PASSWORD": "twelve chars",
			},
			want: func(c *config.Config) {
				c.BootstrapAdminEmail = "root@example.com"
				c.BootstrapAdminPassword = "twelve chars"
			},
		},
		{
			name: "trust proxy",
			env:  map[string]string{"MCPD_TRUST_PROXY": "true"},
			want: func(c *config.Config) { c.TrustProxy = true },
		},
		{
			name: "listen on any port",
			env:  map[string]string{"MCPD_LISTEN": ":0"},
			want: func(c *config.Config) { c.Listen = ":0" },
		},
	}
	runLoadCases(t, tests)
}

func TestLoadInvalidValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		// want are substrings the error must hold: the variable and what
		// is allowed.
		want []string
		// secret are substrings the error must not hold.
		secret []string
	}{
		{
			name: "listen not host:port",
			env:  map[string]string{"MCPD_LISTEN": "nonsense"},
			want: []string{"MCPD_LISTEN", "nonsense", "host:port"},
		},
		{
			name: "listen port out of range",
			env:  map[string]string{"MCPD_LISTEN": "127.0.0.1:70000"},
			want: []string{"MCPD_LISTEN", "70000", "0..65535"},
		},
		{
			name: "unknown environment",
			env:  map[string]string{"MCPD_ENV": "staging"},
			want: []string{"MCPD_ENV", "staging", "development, production"},
		},
		{
			name: "unknown log level",
			env:  map[string]string{"MCPD_LOG_LEVEL": "loud"},
			want: []string{"MCPD_LOG_LEVEL", "loud", "debug, info, warn, error"},
		},
		{
			name: "unknown log format",
			env:  map[string]string{"MCPD_LOG_FORMAT": "xml"},
			want: []string{"MCPD_LOG_FORMAT", "xml", "text, json"},
		},
		{
			name: "rate limit not N/duration",
			env:  map[string]string{"MCPD_RATE_LIMIT": "abc"},
			want: []string{"MCPD_RATE_LIMIT", "abc", "N/duration", "off"},
		},
		{
			name: "rate limit zero requests",
			env:  map[string]string{"MCPD_RATE_LIMIT": "0/1m"},
			want: []string{"MCPD_RATE_LIMIT", "0/1m", "N/duration", "off"},
		},
		{
			name: "rate limit zero window",
			env:  map[string]string{"MCPD_RATE_LIMIT": "10/0s"},
			want: []string{"MCPD_RATE_LIMIT", "10/0s", "1s to 24h"},
		},
		{
			name: "login rate limit",
			env:  map[string]string{"MCPD_LOGIN_RATE_LIMIT": "many"},
			want: []string{"MCPD_LOGIN_RATE_LIMIT", "many", "N/duration"},
		},
		{
			name: "body limit unknown unit",
			env:  map[string]string{"MCPD_BODY_LIMIT": "1TB"},
			want: []string{"MCPD_BODY_LIMIT", "1TB", "512KiB", "from 1024 to 67108864 bytes"},
		},
		{
			name: "body limit below 1KiB",
			env:  map[string]string{"MCPD_BODY_LIMIT": "10"},
			want: []string{"MCPD_BODY_LIMIT", "from 1024 to 67108864 bytes"},
		},
		{
			name: "negative shutdown timeout",
			env:  map[string]string{"MCPD_SHUTDOWN_TIMEOUT": "-1s"},
			want: []string{"MCPD_SHUTDOWN_TIMEOUT", "-1s", "from 0s to 10m0s"},
		},
		{
			name: "session TTL too short",
			env:  map[string]string{"MCPD_SESSION_TTL": "10s"},
			want: []string{"MCPD_SESSION_TTL", "from 1m0s to 720h0m0s"},
		},
		{
			name: "auth cache TTL too long",
			env:  map[string]string{"MCPD_AUTH_CACHE_TTL": "1h"},
			want: []string{"MCPD_AUTH_CACHE_TTL", "from 0s to 1m0s"},
		},
		{
			name: "audit queue too small",
			env:  map[string]string{"MCPD_AUDIT_QUEUE_SIZE": "5"},
			want: []string{"MCPD_AUDIT_QUEUE_SIZE", "from 100 to 1000000"},
		},
		{
			name: "CORS origin not http",
			env:  map[string]string{"MCPD_CORS_ORIGINS": "ftp://x"},
			want: []string{"MCPD_CORS_ORIGINS", "ftp://x", "scheme://host[:port]"},
		},
		{
			name: "CORS origin with a path",
			env:  map[string]string{"MCPD_CORS_ORIGINS": "https://app.example.com/ui"},
			want: []string{"MCPD_CORS_ORIGINS", "scheme://host[:port]"},
		},
		{
			name: "CORS wildcard in production",
			env:  map[string]string{"MCPD_CORS_ORIGINS": "*", "MCPD_ENV": "production"},
			want: []string{"MCPD_CORS_ORIGINS", "only with MCPD_ENV=development"},
		},
		{
			name:   "database URL not PostgreSQL",
			env:    map[string]string{"MCPD_DATABASE_URL": "mysql://x"},
			want:   []string{"MCPD_DATABASE_URL", "PostgreSQL URL"},
			secret: []string{"mysql://x"},
		},
		{
			name:   "database URL with a password",
			env:    map[string]string{"MCPD_DATABASE_URL": "mysql://root:hunter2pw@db:3306/app"},
			want:   []string{"MCPD_DATABASE_URL", "PostgreSQL URL"},
			secret: []string{"hunter2pw", "mysql://"},
		},
		{
			name:   "PostgreSQL URL without host",
			env:    map[string]string{"MCPD_DATABASE_URL": "postgres://root:hunter2pw@/app"},
			want:   []string{"MCPD_DATABASE_URL", "PostgreSQL URL"},
			secret: []string{"hunter2pw"},
		},
		{
			name:   "bootstrap password too short",
			env:    map[string]string{"MCPD_BOOTSTRAP_ADMIN_PASSWORD": "short"},
			want:   []string{"MCPD_BOOTSTRAP_ADMIN_PASSWORD", "at least 12 characters"},
			secret: []string{"short"},
		},
		{
			name: "bootstrap email",
			env:  map[string]string{"MCPD_BOOTSTRAP_ADMIN_EMAIL": "admin"},
			want: []string{"MCPD_BOOTSTRAP_ADMIN_EMAIL", "email address"},
		},
		{
			// Login would refuse it: the admin could never log in.
			name: "bootstrap email login would refuse",
			env:  map[string]string{"MCPD_BOOTSTRAP_ADMIN_EMAIL": "a(b)@x.com"},
			want: []string{"MCPD_BOOTSTRAP_ADMIN_EMAIL", "plain email address"},
		},
		{
			name: "trust proxy not a boolean",
			env:  map[string]string{"MCPD_TRUST_PROXY": "maybe"},
			want: []string{"MCPD_TRUST_PROXY", "maybe", "true or false"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load succeeded with %v, want an error", tt.env)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with its error: %+v", cfg)
			}
			msg := err.Error()
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			for _, s := range tt.secret {
				if strings.Contains(msg, s) {
					t.Errorf("error %q leaks %q", msg, s)
				}
			}
		})
	}
}

// All problems are reported at once, so an operator fixes them in one go.
func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"MCPD_LISTEN":               "nonsense",
		"MCPD_ENV":                  "staging",
		"MCPD_LOG_LEVEL":            "loud",
		"MCPD_RATE_LIMIT":           "abc",
		"MCPD_BODY_LIMIT":           "1TB",
		"MCPD_AUDIT_QUEUE_SIZE":     "5",
		"MCPD_TRUST_PROXY":          "maybe",
		"MCPD_INSTANCES":            "sometimes",
		"MCPD_NODE_NAME":            "Node_1",
		"MCPD_LOG_RETENTION":        "5",
		"MCPD_RESTART_BACKOFF_BASE": "1ms",
		"MCPD_RESTART_BACKOFF_MAX":  "2h",
		"MCPD_MCP_SESSION_IDLE":     "1s",
		"MCPD_MCP_MAX_SESSIONS":     "0",
		"MCPD_MCP_BODY_LIMIT":       "100",
		"MCPD_MCP_MAX_RESPONSE":     "1GiB",
		"MCPD_MCP_CALL_TIMEOUT":     "2h",
		"MCPD_MCP_RATE_LIMIT":       "lots",
		"MCPD_MCP_ALLOWED_HOSTS":    "http://x.example",
	}
	_, err := config.Load(env(bad))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error is not a joined list: %v", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		name, _, _ := strings.Cut(e.Error(), "=")
		got = append(got, name)
	}
	var want []string
	for name := range bad {
		want = append(want, name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables reported (-want +got):\n%s\nerror: %v", diff, err)
	}
}

// Vars is the documentation of the environment; it must list exactly the
// MCPD_ variables Load reads.
func TestVarsListsEveryVariableRead(t *testing.T) {
	t.Parallel()
	read := map[string]bool{}
	config.Load(func(name string) string { //nolint:errcheck // only the names read matter
		if strings.HasPrefix(name, "MCPD_") {
			read[name] = true
		}
		return ""
	})
	var got, want []string
	for name := range read {
		got = append(got, name)
	}
	for _, v := range config.Vars {
		want = append(want, v.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables read vs documented (-documented +read):\n%s", diff)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"512KiB", 512 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1048576", 1048576, true},
		{"100B", 100, true},
		{"0", 0, true},
		{"x", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"KiB", 0, false},
		{"1TB", 0, false},
		{"1.5MiB", 0, false},
		{"2048GiB", 0, false}, // above 1TiB
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := config.ParseSize(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" || ok != tt.wantOK {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate         config.Rate
		wantString   string
		wantDisabled bool
	}{
		{config.Rate{}, "off", true},
		{config.Rate{Limit: 100, Window: time.Minute}, "100/1m0s", false},
	}
	for _, tt := range tests {
		t.Run(tt.wantString, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.wantString, tt.rate.String()); diff != "" {
				t.Errorf("String mismatch (-want +got):\n%s", diff)
			}
			if got := tt.rate.Disabled(); got != tt.wantDisabled {
				t.Errorf("Disabled() = %v, want %v", got, tt.wantDisabled)
			}
		})
	}
}
