package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// server is a Server resource as the manager uses it.
type server struct {
	Name string
	Spec v1.ServerSpec
	// Hash identifies what an instance runs: the spec without replicas and
	// health check, whose changes need no restart.
	Hash string
}

// runs reports whether mcpd runs instances of the server (a URL server
// runs elsewhere).
func (s *server) runs() bool { return s.Spec.URL == "" }

func (s *server) replicas() int {
	if !s.runs() || s.Spec.Replicas == nil {
		return 0
	}
	return *s.Spec.Replicas
}

func parseServer(r store.Resource) (*server, error) {
	var spec v1.ServerSpec
	if err := json.Unmarshal(r.Spec, &spec); err != nil {
		return nil, fmt.Errorf("stored spec of server %s: %w", r.Name, err)
	}
	spec.Default()
	run := spec
	run.Replicas, run.HealthCheck = nil, nil
	b, err := json.Marshal(run)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &server{Name: r.Name, Spec: spec, Hash: hex.EncodeToString(sum[:8])}, nil
}

// probe is a server's health check with its defaults filled in.
type probe struct {
	Tool      string
	Arguments map[string]any
	Interval  time.Duration
	Timeout   time.Duration
	Threshold int
}

func probeOf(spec *v1.ServerSpec, def probe) probe {
	p := def
	if h := spec.HealthCheck; h != nil {
		p.Tool, p.Arguments = h.Tool, h.Arguments
		if d := h.Interval.Parse(); d > 0 {
			p.Interval = d
		}
		if d := h.Timeout.Parse(); d > 0 {
			p.Timeout = d
		}
		if h.FailureThreshold > 0 {
			p.Threshold = h.FailureThreshold
		}
	}
	p.Timeout = min(p.Timeout, p.Interval)
	return p
}

// errConfig marks a start failure that only a change of the server or a
// secret cures (a missing secret key). It is retried with the usual
// backoff, so the instance starts soon after the fix.
var errConfig = errors.New("configuration")

// workloadSpec builds what the runtime needs, with secret values resolved
// here in mcpd (they never travel on a command line).
func workloadSpec(ctx context.Context, st store.Store, keys *secret.Keyring, s *server, id string, log workload.LogFunc) (workload.Spec, error) {
	ws := workload.Spec{
		InstanceID: id, Server: s.Name, Transport: s.Spec.Transport,
		Command: s.Spec.Command, Args: s.Spec.Args, Image: s.Spec.Image, Port: s.Spec.Port,
		Env: make(map[string]string, len(s.Spec.Env)), Log: log,
	}
	if r := s.Spec.Resources; r != nil {
		ws.Limits.MemoryBytes, _ = v1.ParseMemory(r.Memory)
		ws.Limits.NanoCPUs, _ = v1.ParseCPUs(r.CPUs)
		ws.Limits.Pids = int64(r.Pids)
	}
	sealed := map[string]secret.Sealed{}
	for _, e := range s.Spec.Env {
		if e.Value != nil {
			ws.Env[e.Name] = *e.Value
			continue
		}
		if e.SecretRef == nil {
			continue
		}
		ref := e.SecretRef
		data, ok := sealed[ref.Name]
		if !ok {
			r, err := st.GetResource(ctx, store.ResourceKey{Kind: "Secret", Name: ref.Name})
			if errors.Is(err, store.ErrNotFound) {
				return workload.Spec{}, fmt.Errorf("%w: env %s: secret %q does not exist; create it with `mcpctl create secret %s --data %s=...`",
					errConfig, e.Name, ref.Name, ref.Name, ref.Key)
			}
			if err != nil {
				return workload.Spec{}, fmt.Errorf("env %s: read secret %q: %w", e.Name, ref.Name, err)
			}
			if data, err = secret.ParseSealed(r.Spec); err != nil {
				return workload.Spec{}, err
			}
			sealed[ref.Name] = data
		}
		ct, ok := data.Data[ref.Key]
		if !ok {
			return workload.Spec{}, fmt.Errorf("%w: env %s: secret %q has no key %q (it has: %v)", errConfig, e.Name, ref.Name, ref.Key, data.Keys())
		}
		if ct == secret.Unset {
			return workload.Spec{}, fmt.Errorf("%w: env %s: secret %q key %q has no value (it came from a redacted document); set it with `mcpctl edit secret %s`",
				errConfig, e.Name, ref.Name, ref.Key, ref.Name)
		}
		v, err := keys.OpenValue(ref.Name, ref.Key, ct)
		if err != nil {
			return workload.Spec{}, fmt.Errorf("%w: env %s: secret %q key %q cannot be decrypted: %v", errConfig, e.Name, ref.Name, ref.Key, err)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return workload.Spec{}, fmt.Errorf("%w: env %s: secret %q key %q holds a NUL byte, which an environment variable cannot carry",
				errConfig, e.Name, ref.Name, ref.Key)
		}
		ws.Env[e.Name] = v
	}
	return ws, nil
}
