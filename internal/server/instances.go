package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/gateway"
	"github.com/mcpctl/mcpctl/internal/instance"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/telemetry"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/docker"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// nodeName is MCPD_NODE_NAME, or the name kept in DATA_DIR/node-name
// (made from the host name on the first start): stable across restarts,
// so that a restarted mcpd finds the instances it ran.
func nodeName(cfg *config.Config) (string, error) {
	if cfg.NodeName != "" {
		return cfg.NodeName, nil
	}
	file := filepath.Join(cfg.DataDir, "node-name")
	if b, err := os.ReadFile(file); err == nil {
		name := strings.TrimSpace(string(b))
		if msg := v1.ValidateName(name); msg != "" {
			return "", fmt.Errorf("%s holds %q, which %s; fix or delete the file", file, name, msg)
		}
		return name, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the node name: %w", err)
	}
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
		if b.Len() >= 40 {
			break
		}
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := strings.Trim(b.String(), "-")
	if name == "" {
		name = "mcpd"
	}
	name += "-" + hex.EncodeToString(suffix)
	if err := os.WriteFile(file, []byte(name+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the node name: %w", err)
	}
	return name, nil
}

// instances builds the instance manager and its runtimes, or nil when
// MCPD_INSTANCES=off.
func instances(cfg *config.Config, node string, st store.Store, keys *secret.Keyring, metrics *telemetry.Metrics, gw *gateway.Gateway, log *slog.Logger) (*instance.Manager, error) {
	if !cfg.Instances {
		log.Info("MCPD_INSTANCES=off: this mcpd runs no server instances")
		return nil, nil
	}
	work := filepath.Join(cfg.DataDir, "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("create the instances' working directory: %w", err)
	}
	proc, err := process.New(process.Config{Node: node, Dir: work})
	if err != nil {
		return nil, err
	}
	// The Docker engine is the one DOCKER_HOST names (default: the local
	// socket). It need not run now: its instances fail with a clear
	// message and start when it answers.
	dock, err := docker.New(docker.Config{Node: node})
	if err != nil {
		return nil, err
	}
	runtimes := map[string]workload.Runtime{process.Name: proc, docker.Name: dock}
	log.Info("instances run on this mcpd", "node", node, "runtimes", "process, docker")
	return instance.New(instance.Config{
		Node: node, LogRetention: cfg.LogRetention, BackoffBase: cfg.BackoffBase, BackoffMax: cfg.BackoffMax,
	}, instance.Deps{Store: st, Runtimes: runtimes, Secrets: keys, Metrics: instance.NewMetrics(metrics.Registry), Log: log, Connect: gw.ConnectShared})
}

// runInstances runs the manager until ctx ends; the returned func waits
// for it to have stopped its instances.
func runInstances(ctx context.Context, m *instance.Manager) (wait func()) {
	if m == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	return func() { <-done }
}
