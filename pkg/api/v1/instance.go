package v1

import (
	"regexp"
	"time"
)

// Instance states. An instance is pending until its runtime starts it,
// starting until its first probe passes, then running; unhealthy after
// failureThreshold failed probes in a row (it is then restarted); stopping
// while it drains; stopped when it was stopped on purpose; failed when it
// exited or could not start (it is restarted after its backoff while its
// server still wants it).
const (
	InstancePending   = "pending"
	InstanceStarting  = "starting"
	InstanceRunning   = "running"
	InstanceUnhealthy = "unhealthy"
	InstanceStopping  = "stopping"
	InstanceStopped   = "stopped"
	InstanceFailed    = "failed"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// MaxInstanceEvents is how many events an instance keeps, newest last.
const MaxInstanceEvents = 50

// Instance is one running (or recently run) copy of a server. It is owned
// by mcpd: there is no spec, only state.
type Instance struct {
	// ID is a UUID.
	ID     string `json:"id"`
	Server string `json:"server"`
	// Runtime is process or docker.
	Runtime string `json:"runtime"`
	// RuntimeID is the pid or container id.
	RuntimeID string `json:"runtimeId,omitempty"`
	// Node is the mcpd that runs it.
	Node  string `json:"node,omitempty"`
	State string `json:"state"`
	// Message says why the instance is in its state, for people.
	Message string `json:"message,omitempty"`
	// Restarts counts restarts after a crash, a failed health check or a
	// restart request.
	Restarts int `json:"restarts"`
	// ExitCode is the last exit code, once the instance has exited.
	ExitCode *int `json:"exitCode,omitempty"`
	// NextStartAt is when a failed instance is started again (crash-loop
	// backoff).
	NextStartAt time.Time       `json:"nextStartAt,omitzero"`
	CreatedAt   time.Time       `json:"createdAt"`
	StartedAt   time.Time       `json:"startedAt,omitzero"`
	ReadyAt     time.Time       `json:"readyAt,omitzero"`
	StoppedAt   time.Time       `json:"stoppedAt,omitzero"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	Health      InstanceHealth  `json:"health"`
	Events      []InstanceEvent `json:"events,omitempty"`
}

// Health statuses of an instance.
const (
	HealthUnknown   = "unknown"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// InstanceHealth is the result of the instance's probes; GET
// /api/v1/instances/{id}/health answers it.
type InstanceHealth struct {
	// Status is unknown (no probe yet), healthy or unhealthy.
	Status      string    `json:"status"`
	LastChecked time.Time `json:"lastChecked,omitzero"`
	// Readiness: the last probe passed, so the instance takes calls.
	Readiness bool `json:"readiness"`
	// Liveness: the instance's process or container runs.
	Liveness            bool `json:"liveness"`
	ConsecutiveFailures int  `json:"consecutiveFailures"`
	// AlertThreshold is the failureThreshold: this many failed probes in a
	// row make the instance unhealthy.
	AlertThreshold int `json:"alertThreshold"`
	// Uptime is the time since the instance started, in seconds (filled
	// when answered).
	Uptime float64 `json:"uptime"`
	// LastError is the last failed probe's error.
	LastError string `json:"lastError,omitempty"`
	// LatencyMillis is the last probe's round trip.
	LatencyMillis float64 `json:"latencyMillis"`
}

// InstanceEvent is one thing that happened to an instance.
type InstanceEvent struct {
	Time time.Time `json:"time"`
	// Type is Normal or Warning.
	Type string `json:"type"`
	// Reason is one CamelCase word: Created, Started, Ready, Exited,
	// BackOff, Unhealthy, Stopping, Stopped, Failed, Adopted, Restarting.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// AddEvent appends an event and keeps the newest MaxInstanceEvents.
func (in *Instance) AddEvent(at time.Time, typ, reason, message string) {
	in.Events = append(in.Events, InstanceEvent{Time: at, Type: typ, Reason: reason, Message: message})
	if n := len(in.Events) - MaxInstanceEvents; n > 0 {
		in.Events = append(in.Events[:0:0], in.Events[n:]...)
	}
}

// InstanceList is a page of instances.
type InstanceList struct {
	Items      []Instance `json:"items"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// StartInstance is the body of POST /api/v1/instances.
type StartInstance struct {
	Server string `json:"server"`
}

// LogLine is one sanitised log line of an instance. GET
// /api/v1/instances/{id}/logs answers them as JSON lines.
type LogLine struct {
	// Seq numbers an instance's lines from 1; a cursor is the last seq.
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"ts"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ValidateInstanceID returns "" for a well-formed instance id (a lower-case
// UUID), else what is wrong with it.
func ValidateInstanceID(id string) string {
	if !uuidRE.MatchString(id) {
		return "is not an instance id (a UUID such as 0b6f1c9e-4a51-4c1e-9f0e-2d0c8a7b6e15; list them with `mcpctl get instances`)"
	}
	return ""
}
