package client

import (
	"context"
	"net/http"
	"net/url"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func userPath(email string) string { return "/api/v1/users/" + url.PathEscape(email) }

// ListUsers returns every user (following the pages).
func (c *Client) ListUsers(ctx context.Context) ([]v1.User, error) {
	var all []v1.User
	q := url.Values{"limit": {"1000"}}
	for {
		var page v1.UserList
		if err := c.do(ctx, http.MethodGet, "/api/v1/users", q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// GetUser reads one user by email.
func (c *Client) GetUser(ctx context.Context, email string) (*v1.User, error) {
	var out v1.User
	return &out, c.do(ctx, http.MethodGet, userPath(email), nil, nil, &out)
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, req v1.CreateUserRequest) (*v1.User, error) {
	var out v1.User
	return &out, c.do(ctx, http.MethodPost, "/api/v1/users", nil, req, &out)
}

// UpdateUser renames a user or resets their password (admins).
func (c *Client) UpdateUser(ctx context.Context, email string, req v1.UpdateUserRequest) (*v1.User, error) {
	var out v1.User
	return &out, c.do(ctx, http.MethodPatch, userPath(email), nil, req, &out)
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, email string) error {
	return c.do(ctx, http.MethodDelete, userPath(email), nil, nil, nil)
}

// ChangePassword changes the caller's own password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/password", nil, v1.PasswordRequest{CurrentPassword: current, NewPassword: next}, nil)
}

// CanIQuery asks whether a subject may do one thing.
type CanIQuery struct {
	Verb, Resource, Name, Project, Action string
	// As asks about another subject (User:, Group:, McpToken:).
	As string
}

// CanI answers a CanIQuery.
func (c *Client) CanI(ctx context.Context, q CanIQuery) (*v1.CanIResponse, error) {
	v := url.Values{"verb": {q.Verb}}
	for k, val := range map[string]string{"resource": q.Resource, "name": q.Name, "project": q.Project, "action": q.Action, "as": q.As} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var out v1.CanIResponse
	return &out, c.do(ctx, http.MethodGet, "/api/v1/auth/can-i", v, nil, &out)
}

func tokenPath(project, name string) string {
	return "/api/v1/projects/" + url.PathEscape(project) + "/mcptokens/" + url.PathEscape(name)
}

// ListTokens returns the McpTokens of project, or of every project when
// project is empty.
func (c *Client) ListTokens(ctx context.Context, project string) ([]v1.McpToken, error) {
	var all []v1.McpToken
	q := url.Values{"limit": {"1000"}}
	if project != "" {
		q.Set("project", project)
	}
	for {
		var page v1.McpTokenList
		if err := c.do(ctx, http.MethodGet, "/api/v1/mcptokens", q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// GetToken reads one McpToken.
func (c *Client) GetToken(ctx context.Context, project, name string) (*v1.McpToken, error) {
	var out v1.McpToken
	return &out, c.do(ctx, http.MethodGet, tokenPath(project, name), nil, nil, &out)
}

// CreateToken creates an McpToken; the answer holds the raw token, once.
func (c *Client) CreateToken(ctx context.Context, project string, req v1.CreateMcpTokenRequest) (*v1.CreatedMcpToken, error) {
	var out v1.CreatedMcpToken
	return &out, c.do(ctx, http.MethodPost, "/api/v1/projects/"+url.PathEscape(project)+"/mcptokens", nil, req, &out)
}

// DeleteToken deletes an McpToken.
func (c *Client) DeleteToken(ctx context.Context, project, name string) error {
	return c.do(ctx, http.MethodDelete, tokenPath(project, name), nil, nil, nil)
}

// RevokeToken revokes an McpToken; it stays listed as revoked.
func (c *Client) RevokeToken(ctx context.Context, project, name string) error {
	return c.do(ctx, http.MethodPost, tokenPath(project, name)+"/revoke", nil, nil, nil)
}

// Introspect describes the McpToken this client sends as its bearer.
func (c *Client) Introspect(ctx context.Context) (*v1.TokenIntrospection, error) {
	var out v1.TokenIntrospection
	return &out, c.do(ctx, http.MethodGet, "/api/v1/mcptokens/introspect", nil, nil, &out)
}

// GatewayConfig reads what a gateway needs of a project.
func (c *Client) GatewayConfig(ctx context.Context, project string) (*v1.GatewayConfig, error) {
	var out v1.GatewayConfig
	if err := c.do(ctx, http.MethodGet, "/api/v1/projects/"+url.PathEscape(project)+"/gateway", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
