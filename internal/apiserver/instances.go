package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/instance"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Instances runs servers' instances on this mcpd (internal/instance's
// Manager). Nil when MCPD_INSTANCES=off: instances are then only read.
type Instances interface {
	// Trigger asks for a reconcile pass (after a write to servers).
	Trigger()
	// Start adds an instance; bump raises the server's replicas.
	Start(ctx context.Context, server string, bump func(ctx context.Context) (string, error)) (v1.Instance, error)
	// Stop stops an instance for good; drop lowers the server's replicas.
	Stop(ctx context.Context, id string, drain time.Duration, drop func(ctx context.Context, server string) error) (v1.Instance, error)
	// Restart stops and starts an instance again.
	Restart(ctx context.Context, id string, drain time.Duration) (v1.Instance, error)
	// LogWait is closed when the instance's log grows on this mcpd.
	LogWait(id string) <-chan struct{}
}

// maxDrain bounds ?drainTimeout=.
const maxDrain = 10 * time.Minute

func (s *Server) instanceRoutes() []route {
	// Item routes check rights on the instance's server once it is read:
	// a binding {resource: instances, name: S} covers the instances of S.
	return []route{
		{"GET", "/api/v1/instances", "instances.list", onCollection(v1.RoleView, "instances"), s.listInstances},
		{"POST", "/api/v1/instances", "instances.start", self, s.startInstance},
		{"GET", "/api/v1/instances/{id}", "instances.get", self, s.getInstance},
		{"DELETE", "/api/v1/instances/{id}", "instances.stop", self, s.stopInstance},
		{"POST", "/api/v1/instances/{id}/restart", "instances.restart", self, s.restartInstance},
		{"GET", "/api/v1/instances/{id}/health", "instances.health", self, s.instanceHealth},
		{"GET", "/api/v1/instances/{id}/logs", "instances.logs", runs("logs"), s.instanceLogs},
		{"GET", "/api/v1/instances/{id}/logs/stream", "instances.logs.follow", runs("logs"), s.followLogs},
	}
}

// instanceFor validates the path's id, reads the instance and checks verb
// on its server's instances.
func (s *Server) instanceFor(r *http.Request, verb string) (v1.Instance, error) {
	id := r.PathValue("id")
	if msg := v1.ValidateInstanceID(id); msg != "" {
		return v1.Instance{}, validationError(v1.FieldError{Field: "id", Message: fmt.Sprintf("%q %s", id, msg)})
	}
	in, err := s.store.GetInstance(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		// Say nothing about existence to a caller who may see no instance.
		if rights, rerr := s.rightsIn(r.Context()); rerr == nil && !rights.ViewsAny("instances") {
			return v1.Instance{}, s.allow(r.Context(), authz.Request{Verb: verb, Resource: "instances"})
		}
		return v1.Instance{}, newError(http.StatusNotFound, v1.CodeNotFound,
			fmt.Sprintf("instance %s not found (stopped instances are kept for an hour); list them with `mcpctl get instances`", id))
	}
	if err != nil {
		return v1.Instance{}, err
	}
	return in, s.allow(r.Context(), authz.Request{Verb: verb, Resource: "instances", Name: in.Server})
}

func (s *Server) needInstances() error {
	if s.instances == nil {
		return newError(http.StatusServiceUnavailable, v1.CodeInstancesDisabled,
			"this mcpd runs no instances (MCPD_INSTANCES=off); send the request to an mcpd that runs them")
	}
	return nil
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fe v1.FieldErrors
	if err := onlyParams(r, "limit", "cursor", "server", "all"); err != nil {
		fe = append(fe, toAPIError(err).details...)
	}
	limit := pageLimit(q, &fe)
	f := store.InstanceFilter{Server: q.Get("server"), Active: q.Get("all") != "true"}
	if f.Server != "" {
		if msg := v1.ValidateName(f.Server); msg != "" {
			fe.Add("server", "%s", msg)
		}
	}
	start := cursorParam(q, &fe)
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, next, more, err := pageOf(limit, limit+1, s.maxScan, start,
		func(after store.ResourceKey, n int) ([]v1.Instance, error) {
			g := f
			g.AfterServer, g.AfterID, g.Limit = after.Project, after.Name, n
			return s.store.ListInstances(r.Context(), g)
		},
		func(in v1.Instance) store.ResourceKey { return store.ResourceKey{Project: in.Server, Name: in.ID} },
		func(in v1.Instance) (v1.Instance, bool, error) {
			return s.withUptime(in), rights.Allows(authz.Request{Verb: v1.RoleView, Resource: "instances", Name: in.Server}), nil
		})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v1.InstanceList{Items: append([]v1.Instance{}, items...), NextCursor: nextCursor(more, next)})
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) {
	in, err := s.instanceFor(r, v1.RoleView)
	if err == nil {
		err = onlyParams(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withUptime(in))
}

func (s *Server) withUptime(in v1.Instance) v1.Instance {
	if in.Health.Liveness && !in.StartedAt.IsZero() {
		in.Health.Uptime = s.now().Sub(in.StartedAt).Round(time.Millisecond).Seconds()
	}
	return in
}

func (s *Server) instanceHealth(w http.ResponseWriter, r *http.Request) {
	in, err := s.instanceFor(r, v1.RoleView)
	if err == nil {
		err = onlyParams(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withUptime(in).Health)
}

// shiftReplicas moves a server's replicas by delta (+1 for a start, -1
// for a stop) in one transaction, keeping every other field of its
// stored spec as written, and returns the server's runtime. A server
// with a url runs no instances (409); replicas stay within 0..MaxReplicas.
func (s *Server) shiftReplicas(ctx context.Context, name string, delta int) (runtime string, err error) {
	err = s.store.UpdateResources(ctx, func(tx store.ResourceTx) error {
		key := store.ResourceKey{Kind: "Server", Name: name}
		res, err := tx.Get(key)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(key)
		}
		if err != nil {
			return err
		}
		var spec map[string]any
		var typed v1.ServerSpec
		if err := json.Unmarshal(res.Spec, &spec); err != nil {
			return fmt.Errorf("stored spec of server %s: %w", name, err)
		}
		if err := json.Unmarshal(res.Spec, &typed); err != nil {
			return fmt.Errorf("stored spec of server %s: %w", name, err)
		}
		if typed.URL != "" {
			return newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
				"server %s has a url: it runs elsewhere and mcpd starts no instances of it", name))
		}
		typed.Default()
		runtime = typed.Runtime
		n := *typed.Replicas + delta
		switch {
		case n > v1.MaxReplicas:
			return newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
				"server %s already runs %d replicas, the most mcpd runs", name, v1.MaxReplicas))
		case n < 0:
			return nil // already at zero: only the instance stops
		}
		spec["replicas"] = n
		if res.Spec, err = json.Marshal(spec); err != nil {
			return err
		}
		res.UpdatedAt = time.Now().UTC()
		return tx.Update(&res)
	})
	return runtime, err
}

func (s *Server) startInstance(w http.ResponseWriter, r *http.Request) {
	var body v1.StartInstance
	err := decodeJSON(r, &body)
	if err == nil {
		err = onlyParams(r)
	}
	if err == nil {
		if msg := v1.ValidateName(body.Server); msg != "" {
			err = validationError(v1.FieldError{Field: "server", Message: msg})
		}
	}
	if err == nil {
		err = s.allow(r.Context(), authz.Request{Verb: v1.RoleCreate, Resource: "instances", Name: body.Server})
	}
	if err == nil {
		// One more instance is one more replica: the server changes.
		err = s.allow(r.Context(), authz.Request{Verb: v1.RoleEdit, Resource: "servers", Name: body.Server})
	}
	if err == nil {
		err = s.needInstances()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, err := s.instances.Start(r.Context(), body.Server, func(ctx context.Context) (string, error) {
		return s.shiftReplicas(ctx, body.Server, +1)
	})
	if errors.Is(err, instance.ErrNotRunningHere) {
		writeJSON(w, http.StatusAccepted, map[string]string{"server": body.Server,
			"message": "another mcpd replica reconciles server " + body.Server + "; it starts the instance on its next pass"})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, in)
}

// drainParam reads ?drainTimeout=.
func drainParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("drainTimeout")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxDrain {
		return 0, validationError(v1.FieldError{Field: "drainTimeout",
			Message: fmt.Sprintf("%q must be a duration from 0s to %s, such as 30s", v, maxDrain)})
	}
	return d, nil
}

// drainedInstance reads what stop and restart take: ?drainTimeout= and
// the instance, with verb checked on it.
func (s *Server) drainedInstance(r *http.Request, verb string) (v1.Instance, time.Duration, error) {
	if err := onlyParams(r, "drainTimeout"); err != nil {
		return v1.Instance{}, 0, err
	}
	drain, err := drainParam(r)
	if err != nil {
		return v1.Instance{}, 0, err
	}
	in, err := s.instanceFor(r, verb)
	return in, drain, err
}

func (s *Server) stopInstance(w http.ResponseWriter, r *http.Request) {
	in, drain, err := s.drainedInstance(r, v1.RoleDelete)
	if err == nil {
		err = s.allow(r.Context(), authz.Request{Verb: v1.RoleEdit, Resource: "servers", Name: in.Server})
	}
	if err == nil {
		err = s.needInstances()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.instances.Stop(r.Context(), in.ID, drain, func(ctx context.Context, server string) error {
		_, err := s.shiftReplicas(ctx, server, -1)
		if ae := toAPIError(err); err != nil && (ae.status == http.StatusNotFound || ae.status == http.StatusConflict) {
			return nil // the server is gone or runs elsewhere: only the instance stops
		}
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withUptime(out))
}

func (s *Server) restartInstance(w http.ResponseWriter, r *http.Request) {
	in, drain, err := s.drainedInstance(r, v1.RoleEdit)
	if err == nil {
		err = s.needInstances()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.instances.Restart(r.Context(), in.ID, drain)
	switch {
	case errors.Is(err, instance.ErrNotRunningHere):
		s.writeError(w, r, newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
			"instance %s runs on mcpd node %s; send the restart to that mcpd", in.ID, in.Node)))
		return
	case err != nil && strings.Contains(err.Error(), "start a new one"):
		s.writeError(w, r, newError(http.StatusConflict, v1.CodeConflict, err.Error()))
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withUptime(out))
}

// logQuery reads the paging parameters of the log endpoints.
func logQuery(r *http.Request, now time.Time, id string) (store.LogQuery, error) {
	q := r.URL.Query()
	lq := store.LogQuery{InstanceID: id}
	var fe v1.FieldErrors
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			fe.Add("tail", "must be an integer from 1 to 10000")
		}
		lq.Tail = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			fe.Add("limit", "must be an integer from 1 to 10000")
		}
		lq.Limit = n
	}
	// An SSE client resuming sends Last-Event-ID, which wins over the
	// cursor its URL may still carry from the first connection.
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = q.Get("cursor")
	}
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			fe.Add("cursor", "must be the cursor (a line's seq) of an earlier answer")
		}
		lq.After = n
	}
	if v := q.Get("since"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			lq.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			lq.Since = t
		} else {
			fe.Add("since", "must be a duration such as 10m, or a time such as 2026-11-26T10:00:00Z")
		}
	}
	return lq, fe.Err()
}

// instanceLogs answers a page of log lines as JSON lines, with the next
// cursor in the X-Next-Cursor header.
func (s *Server) instanceLogs(w http.ResponseWriter, r *http.Request) {
	err := onlyParams(r, "tail", "since", "cursor", "limit")
	var in v1.Instance
	if err == nil {
		in, err = s.instanceFor(r, v1.RoleView)
	}
	var lq store.LogQuery
	if err == nil {
		lq, err = logQuery(r, s.now(), in.ID)
	}
	var lines []v1.LogLine
	if err == nil {
		lines, err = s.store.ReadLogs(r.Context(), lq)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	next := lq.After
	if len(lines) > 0 {
		next = lines[len(lines)-1].Seq
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Next-Cursor", strconv.FormatInt(next, 10))
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return
		}
	}
}

var errInstanceGone = errors.New("instance gone")

// follow sends the instance's lines after lq's position as they come,
// until the instance is stopped for good (nil) or ctx ends.
func (s *Server) follow(ctx context.Context, lq store.LogQuery, send func([]v1.LogLine) error, idle func() error) error {
	cursor := lq.After
	if lq.Tail > 0 && lq.After == 0 {
		lines, err := s.store.ReadLogs(ctx, store.LogQuery{InstanceID: lq.InstanceID, Tail: lq.Tail, Since: lq.Since})
		if err != nil {
			return err
		}
		if len(lines) > 0 {
			if err := send(lines); err != nil {
				return err
			}
			cursor = lines[len(lines)-1].Seq
		} else if cursor, err = s.store.LastLogSeq(ctx, lq.InstanceID); err != nil {
			return err
		}
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	lastLook := false
	for {
		var wake <-chan struct{}
		if s.instances != nil {
			wake = s.instances.LogWait(lq.InstanceID) // before the read: no wake-up is missed
		}
		lines, err := s.store.ReadLogs(ctx, store.LogQuery{InstanceID: lq.InstanceID, After: cursor, Since: lq.Since, Limit: 1000})
		if err != nil {
			return err
		}
		if len(lines) > 0 {
			if err := send(lines); err != nil {
				return err
			}
			cursor = lines[len(lines)-1].Seq
			continue
		}
		in, err := s.store.GetInstance(ctx, lq.InstanceID)
		if errors.Is(err, store.ErrNotFound) {
			return errInstanceGone
		}
		if err != nil {
			return err
		}
		if in.State == v1.InstanceStopped {
			// Lines stored just before the state changed are read once
			// more before the stream ends.
			if lastLook {
				return nil
			}
			lastLook = true
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-time.After(time.Second): // lines written by another replica
		case <-heartbeat.C:
			if err := idle(); err != nil {
				return err
			}
		}
	}
}

// followLogs streams log lines over a WebSocket, or as server-sent events
// when the client asks for text/event-stream (behind proxies that refuse
// upgrades).
func (s *Server) followLogs(w http.ResponseWriter, r *http.Request) {
	err := onlyParams(r, "tail", "since", "cursor")
	var in v1.Instance
	if err == nil {
		in, err = s.instanceFor(r, v1.RoleView)
	}
	var lq store.LogQuery
	if err == nil {
		lq, err = logQuery(r, s.now(), in.ID)
	}
	ws := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if err == nil && !ws && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		err = newError(http.StatusBadRequest, v1.CodeValidationFailed,
			"follow the log over a WebSocket (Upgrade: websocket) or as server-sent events (Accept: text/event-stream); for a page of lines use "+
				"/api/v1/instances/"+in.ID+"/logs")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A follow outlives the server's write timeout.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	if ws {
		s.followWebSocket(w, r, lq)
		return
	}
	s.followSSE(w, r, lq)
}

func (s *Server) followSSE(w http.ResponseWriter, r *http.Request, lq store.LogQuery) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	err := s.follow(r.Context(), lq, func(lines []v1.LogLine) error {
		for _, l := range lines {
			b, _ := json.Marshal(l)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", l.Seq, b); err != nil {
				return err
			}
		}
		return rc.Flush()
	}, func() error {
		if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
			return err
		}
		return rc.Flush()
	})
	reason := "the instance stopped"
	if errors.Is(err, errInstanceGone) {
		reason = "the instance was deleted"
	} else if err != nil {
		return
	}
	fmt.Fprintf(w, "event: end\ndata: %s\n\n", mustJSON(map[string]string{"reason": reason}))
	_ = rc.Flush()
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) followWebSocket(w http.ResponseWriter, r *http.Request, lq store.LogQuery) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The CLI is not a browser; a browser page on another origin is
		// refused by the default Origin check.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the client
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // ends when the client closes
	err = s.follow(ctx, lq, func(lines []v1.LogLine) error {
		for _, l := range lines {
			b, _ := json.Marshal(l)
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := c.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	}, func() error {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return c.Ping(pctx)
	})
	switch {
	case err == nil:
		c.Close(websocket.StatusNormalClosure, "the instance stopped")
	case errors.Is(err, errInstanceGone):
		c.Close(websocket.StatusNormalClosure, "the instance was deleted")
	case ctx.Err() != nil:
	default:
		c.Close(websocket.StatusInternalError, "log follow failed; reconnect with the last cursor")
	}
}
