package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"sigs.k8s.io/yaml"
)

// Context is one mcpd the CLI knows, with the session of the user logged
// in to it.
type Context struct {
	Name    string `json:"name"`
	MCPDURL string `json:"mcpdUrl"`
	Email   string `json:"email,omitempty"`
	// Token is the session token; the file is 0600 for its sake.
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Config is the CLI configuration file.
type Config struct {
	CurrentContext string    `json:"currentContext,omitempty"`
	Contexts       []Context `json:"contexts,omitempty"`
}

// ConfigPath is where the configuration lives: $MCPCTL_CONFIG, else
// $XDG_CONFIG_HOME/mcpctl/config.yaml, else ~/.config/mcpctl/config.yaml.
func ConfigPath() (string, error) {
	if p := os.Getenv("MCPCTL_CONFIG"); p != "" {
		return p, nil
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "mcpctl", "config.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the config file: %w; set MCPCTL_CONFIG", err)
	}
	return filepath.Join(home, ".config", "mcpctl", "config.yaml"), nil
}

// LoadConfig reads the file at path; a missing file is an empty config.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("config %s is not valid: %w; fix or delete it", path, err)
	}
	return &c, nil
}

// Save writes the file atomically with mode 0600 (it holds tokens), in a
// 0700 directory.
func (c *Config) Save(path string) error {
	sort.Slice(c.Contexts, func(i, j int) bool { return c.Contexts[i].Name < c.Contexts[j].Name })
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	if err := WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Context returns the named context.
func (c *Config) Context(name string) (*Context, bool) {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i], true
		}
	}
	return nil, false
}

// Upsert replaces or adds ctx.
func (c *Config) Upsert(ctx Context) {
	if cur, ok := c.Context(ctx.Name); ok {
		*cur = ctx
		return
	}
	c.Contexts = append(c.Contexts, ctx)
}

// Names lists the context names.
func (c *Config) Names() []string {
	var out []string
	for _, x := range c.Contexts {
		out = append(out, x.Name)
	}
	return out
}
