package v1

import (
	"encoding/json"
	"fmt"
)

// What apply does with an object that already exists.
const (
	// OnConflictUpdate updates it (create-or-update; the default).
	OnConflictUpdate = "update"
	// OnConflictSkip leaves it as it is.
	OnConflictSkip = "skip"
	// OnConflictFail refuses the whole apply (409), writing nothing.
	OnConflictFail = "fail"
)

// MaxApplyObjects bounds the documents of one apply.
const MaxApplyObjects = 20000

// MaxApplyBody is the body limit of an apply when mcpd's MCPD_BODY_LIMIT
// is smaller.
const MaxApplyBody = 16 << 20

// ApplyRequest is the body of POST /api/v1/apply. Every object is checked
// before any is written, and all are written in one transaction.
type ApplyRequest struct {
	Objects []json.RawMessage `json:"objects"`
	// DryRun checks everything and reports what would change, writing
	// nothing.
	DryRun bool `json:"dryRun,omitempty"`
	// OnConflict is update (default), skip or fail.
	OnConflict string `json:"onConflict,omitempty"`
}

// Validate checks the request's own fields; the objects are decoded and
// checked by the server with paths "objects[i]....".
func (r *ApplyRequest) Validate() error {
	var fe FieldErrors
	switch r.OnConflict {
	case "", OnConflictUpdate, OnConflictSkip, OnConflictFail:
	default:
		fe.Add("onConflict", "must be update, skip or fail, not %q", r.OnConflict)
	}
	if len(r.Objects) == 0 {
		fe.Add("objects", "must hold at least one object")
	}
	if len(r.Objects) > MaxApplyObjects {
		fe.Add("objects", "must hold at most %d objects; split the apply", MaxApplyObjects)
	}
	return fe.Err()
}

// Apply actions.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
	ActionSkipped    = "skipped"
	ActionDeleted    = "deleted"
)

// ApplyResult is what apply did (or, in a dry run, would do) to one object.
type ApplyResult struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Project string `json:"project,omitempty"`
	// Action is created, configured, unchanged or skipped.
	Action string `json:"action"`
	// Changes lists the changed fields of a configured object. Secret
	// values appear as null.
	Changes []Change `json:"changes,omitempty"`
	// ResourceVersion is the object's version after the apply.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Warnings are things the user should act on, such as a secret key
	// left without a value.
	Warnings []string `json:"warnings,omitempty"`
	// Token is the raw token of an McpToken the apply created: shown
	// once, never stored.
	Token string `json:"token,omitempty"`
}

// ID names the object as kind/name or kind/project/name.
func (r ApplyResult) ID() string { return IDOf(r.Kind, r.Project, r.Name) }

// ApplyResponse answers an apply, one result per object in request order.
type ApplyResponse struct {
	DryRun  bool          `json:"dryRun,omitempty"`
	Results []ApplyResult `json:"results"`
}

// DeleteResponse answers a delete; Cascaded lists what the cascade changed
// or deleted besides the object.
type DeleteResponse struct {
	Deleted  ApplyResult   `json:"deleted"`
	Cascaded []ApplyResult `json:"cascaded,omitempty"`
}

// StaleVersionMessage is the 409 message of an update whose
// resourceVersion is not the stored one.
func StaleVersionMessage(id, sent, now string) string {
	return fmt.Sprintf("%s was changed since you read it (your resourceVersion %s, now %s); fetch it again and reapply your change", id, sent, now)
}
