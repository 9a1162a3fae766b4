package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// ListOptions narrow a list; zero fields do not filter.
type ListOptions struct {
	// Project lists a scoped kind's objects of one project, or the servers
	// a project uses.
	Project string
	// LabelSelector such as "team=infra,env!=prod".
	LabelSelector string
	// Limit is the page size (mcpd's default 100, at most 1000).
	Limit int
	// Cursor continues from the previous page's NextCursor.
	Cursor string
	// Reveal returns secret values.
	Reveal bool
}

func collectionPath(k v1.Kind, project string) string {
	if k.Scoped && project != "" {
		return "/api/v1/projects/" + url.PathEscape(project) + "/" + k.Plural
	}
	return "/api/v1/" + k.Plural
}

func itemPath(k v1.Kind, project, name string) string {
	return collectionPath(k, project) + "/" + url.PathEscape(name)
}

// List returns one page of objects of kind k.
func (c *Client) List(ctx context.Context, k v1.Kind, o ListOptions) (*v1.ObjectList, error) {
	q := url.Values{}
	if o.Project != "" && !k.Scoped {
		q.Set("project", o.Project)
	}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Reveal {
		q.Set("reveal", "true")
	}
	var out v1.ObjectList
	if err := c.do(ctx, http.MethodGet, collectionPath(k, o.Project), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAll follows the pages of a list to the end.
func (c *Client) ListAll(ctx context.Context, k v1.Kind, o ListOptions) ([]v1.Object, error) {
	if o.Limit == 0 {
		o.Limit = 500
	}
	var all []v1.Object
	for {
		page, err := c.List(ctx, k, o)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		o.Cursor = page.NextCursor
	}
}

// Get reads one object; reveal returns a secret's values.
func (c *Client) Get(ctx context.Context, k v1.Kind, project, name string, reveal bool) (*v1.Object, error) {
	var q url.Values
	if reveal {
		q = url.Values{"reveal": {"true"}}
	}
	var out v1.Object
	if err := c.do(ctx, http.MethodGet, itemPath(k, project, name), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func kindOf(o *v1.Object) (v1.Kind, error) {
	k, ok := v1.LookupKind(o.Kind)
	if !ok {
		return v1.Kind{}, &v1.Error{Message: "unknown kind " + strconv.Quote(o.Kind) + "; known kinds: " + v1.KindNames(), Code: v1.CodeValidationFailed}
	}
	return k, nil
}

// Create creates o; an existing object is a CONFLICT error.
func (c *Client) Create(ctx context.Context, o *v1.Object) (*v1.Object, error) {
	k, err := kindOf(o)
	if err != nil {
		return nil, err
	}
	var out v1.Object
	if err := c.do(ctx, http.MethodPost, collectionPath(k, o.Metadata.Project), nil, o, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update replaces o; with o's resourceVersion set, a stale one is a
// CONFLICT error.
func (c *Client) Update(ctx context.Context, o *v1.Object) (*v1.Object, error) {
	k, err := kindOf(o)
	if err != nil {
		return nil, err
	}
	var out v1.Object
	if err := c.do(ctx, http.MethodPut, itemPath(k, o.Metadata.Project, o.Metadata.Name), nil, o, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Patch applies a JSON merge patch (RFC 7386) to one object.
func (c *Client) Patch(ctx context.Context, k v1.Kind, project, name string, patch json.RawMessage) (*v1.Object, error) {
	var out v1.Object
	body := rawBody{contentType: "application/merge-patch+json", data: patch}
	if err := c.do(ctx, http.MethodPatch, itemPath(k, project, name), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteOptions tune Delete.
type DeleteOptions struct {
	// Cascade detaches or deletes the objects that use this one.
	Cascade bool
	// DryRun reports what would be deleted and changed.
	DryRun bool
}

// Delete deletes one object.
func (c *Client) Delete(ctx context.Context, k v1.Kind, project, name string, o DeleteOptions) (*v1.DeleteResponse, error) {
	q := url.Values{}
	if o.Cascade {
		q.Set("cascade", "true")
	}
	if o.DryRun {
		q.Set("dryRun", "true")
	}
	var out v1.DeleteResponse
	if err := c.do(ctx, http.MethodDelete, itemPath(k, project, name), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	DryRun bool
	// OnConflict is v1.OnConflictUpdate (default), Skip or Fail.
	OnConflict string
}

// Apply creates or updates objects in one transaction.
func (c *Client) Apply(ctx context.Context, objs []*v1.Object, o ApplyOptions) (*v1.ApplyResponse, error) {
	req := v1.ApplyRequest{DryRun: o.DryRun, OnConflict: o.OnConflict, Objects: make([]json.RawMessage, len(objs))}
	for i, obj := range objs {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		req.Objects[i] = b
	}
	var out v1.ApplyResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/apply", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Export returns every object of every kind in apply order, read in one
// transaction; reveal includes secret values.
func (c *Client) Export(ctx context.Context, reveal bool) ([]v1.Object, error) {
	var q url.Values
	if reveal {
		q = url.Values{"reveal": {"true"}}
	}
	var out v1.ObjectList
	if err := c.do(ctx, http.MethodGet, "/api/v1/export", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}
