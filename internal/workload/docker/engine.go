package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/mcpctl/mcpctl/internal/workload"
)

// This file finds containers by their labels and reads what the engine
// reports about them.

func (r *Runtime) tracked(id string) (*instance, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, ok := r.insts[id]
	return inst, ok
}

// filters selects this node's containers, and of them instance id's when
// id is not empty.
func (r *Runtime) filters(id string) client.Filters {
	f := client.Filters{}.Add("label", LabelManaged+"=true", LabelNode+"="+r.cfg.Node)
	if id != "" {
		f.Add("label", LabelInstance+"="+id)
	}
	return f
}

// ours checks the labels again on what the engine returned, rather than
// trusting the filter alone.
func (r *Runtime) ours(labels map[string]string, id string) bool {
	return labels[LabelManaged] == "true" && labels[LabelNode] == r.cfg.Node &&
		labels[LabelInstance] != "" && (id == "" || labels[LabelInstance] == id)
}

// lookup finds the container of instance id on this node by its labels.
func (r *Runtime) lookup(ctx context.Context, id string) (container.InspectResponse, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: r.filters(id)})
	if err != nil {
		return container.InspectResponse{}, r.engineErr(err)
	}
	for _, c := range res.Items {
		if !r.ours(c.Labels, id) {
			continue
		}
		in, err := r.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return container.InspectResponse{}, r.engineErr(err)
		}
		if in.Container.Config != nil && r.ours(in.Container.Config.Labels, id) {
			return in.Container, nil
		}
	}
	return container.InspectResponse{}, workload.ErrNotFound
}

// remove force-removes a container this runtime has just created.
func (r *Runtime) remove(ctx context.Context, cid string) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = r.cli.ContainerRemove(bg, cid, client.ContainerRemoveOptions{Force: true})
}

// statusOf turns the engine's view of a container into a Status. Exit
// codes are the engine's: a container killed by signal N exited with
// 128+N.
func statusOf(in container.InspectResponse) workload.Status {
	st := workload.Status{RuntimeID: in.ID}
	if in.Config != nil {
		st.InstanceID = in.Config.Labels[LabelInstance]
		st.Server = in.Config.Labels[LabelServer]
	}
	s := in.State
	if s == nil {
		return st
	}
	st.Running = s.Running
	st.StartedAt = engineTime(s.StartedAt)
	if !s.Running {
		st.ExitCode = s.ExitCode
		st.FinishedAt = engineTime(s.FinishedAt)
	}
	switch {
	case s.OOMKilled:
		st.Reason = "OOMKilled"
	case s.Error != "":
		st.Reason = s.Error
	}
	return st
}

// engineTime parses the engine's timestamps; its zero time is
// 0001-01-01T00:00:00Z.
func engineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

// engineErr marks errors that say the engine cannot be reached with
// workload.ErrUnavailable and the engine's address.
func (r *Runtime) engineErr(err error) error {
	if isUnreachable(err) {
		return fmt.Errorf("cannot reach the docker engine at %s: %w: %w", r.host, workload.ErrUnavailable, err)
	}
	return err
}

// isUnreachable reports a failure to talk to the engine at all, as opposed
// to an error the engine answered with.
func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if client.IsErrConnectionFailed(err) {
		return true
	}
	// Attach dials by itself and wraps the dial error differently.
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func shortID(cid string) string {
	if len(cid) > 12 {
		return cid[:12]
	}
	return cid
}
