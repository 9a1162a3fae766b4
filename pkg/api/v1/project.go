package v1

import (
	"fmt"
	"sort"
	"strings"
)

// DefaultSeparator joins a server name and a tool name in a project.
const DefaultSeparator = "__"

// ProjectSpec is one MCP endpoint: the servers it merges and how.
type ProjectSpec struct {
	Description string `json:"description,omitempty"`
	// Servers are the names of the servers the project merges.
	Servers []string `json:"servers,omitempty"`
	// Tools holds a tool filter per server name.
	Tools map[string]ToolFilter `json:"tools,omitempty"`
	// Separator joins server and tool names (<server><sep><tool>): 1 to 4
	// of '_', '-', '.'; default "__". "" passes names through unchanged
	// and is allowed only when the project has at most one server.
	Separator *string `json:"separator,omitempty"`
	// Gated projects show clients only a gate until they pick what they
	// need.
	Gated bool `json:"gated,omitempty"`
}

// ToolFilter narrows the tools of one server in a project. An empty Allow
// allows every tool Deny does not name.
type ToolFilter struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// Default sets the separator.
func (p *ProjectSpec) Default() {
	if p.Separator == nil {
		sep := DefaultSeparator
		p.Separator = &sep
	}
}

// Validate checks server names, filters and the separator.
func (p *ProjectSpec) Validate(fe *FieldErrors) {
	if len(p.Description) > 1024 {
		fe.Add("spec.description", "must be at most 1024 characters")
	}
	in := map[string]bool{}
	for i, s := range p.Servers {
		path := fmt.Sprintf("spec.servers[%d]", i)
		if msg := ValidateName(s); msg != "" {
			fe.Add(path, "%s", msg)
		} else if in[s] {
			fe.Add(path, "server %s is listed twice", s)
		}
		in[s] = true
	}
	if sep := p.Separator; sep != nil {
		switch {
		case *sep == "" && len(p.Servers) > 1:
			fe.Add("spec.separator", "may be empty only when the project has one server; it has %d", len(p.Servers))
		case len(*sep) > 4 || strings.Trim(*sep, "_-.") != "":
			fe.Add("spec.separator", "must be 1 to 4 of '_', '-' and '.' (default \"__\"), not %q", *sep)
		case *sep != "":
			// <server><sep><tool> must split one way only, or two servers'
			// tools could get one name.
			for _, s := range p.Servers {
				if strings.Contains(s, *sep) {
					fe.Add("spec.separator", "%q occurs in server name %s, so tool names could collide (%s%sx could be server %s's tool); use a separator no server name contains, such as \"__\"",
						*sep, s, s, *sep, s)
					break
				}
			}
		}
	}
	names := make([]string, 0, len(p.Tools))
	for s := range p.Tools {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		path := "spec.tools." + s
		if !in[s] {
			fe.Add(path, "filters server %s, which is not in spec.servers", s)
		}
		f := p.Tools[s]
		allow := map[string]bool{}
		for i, t := range f.Allow {
			if t == "" {
				fe.Add(fmt.Sprintf("%s.allow[%d]", path, i), "must not be empty")
			}
			allow[t] = true
		}
		for i, t := range f.Deny {
			switch {
			case t == "":
				fe.Add(fmt.Sprintf("%s.deny[%d]", path, i), "must not be empty")
			case allow[t]:
				fe.Add(fmt.Sprintf("%s.deny[%d]", path, i), "tool %s is in both allow and deny; keep it in one", t)
			}
		}
	}
}

// References lists the servers.
func (p *ProjectSpec) References() []Ref {
	out := make([]Ref, 0, len(p.Servers))
	for i, s := range p.Servers {
		out = append(out, Ref{Kind: "Server", Name: s, Field: fmt.Sprintf("spec.servers[%d]", i)})
	}
	return out
}

// PromptSpec is a text a project offers its clients.
type PromptSpec struct {
	Text string `json:"text"`
	// Priority orders prompts: 1 (lowest) to 10, default 5.
	Priority int      `json:"priority,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}

// MaxPromptText bounds PromptSpec.Text.
const MaxPromptText = 64 << 10

// Default sets the priority.
func (p *PromptSpec) Default() {
	if p.Priority == 0 {
		p.Priority = 5
	}
}

var tagOK = nameChars(63)

// Validate checks the text, priority and tags.
func (p *PromptSpec) Validate(fe *FieldErrors) {
	switch {
	case strings.TrimSpace(p.Text) == "":
		fe.Add("spec.text", "must not be empty")
	case len(p.Text) > MaxPromptText:
		fe.Add("spec.text", "must be at most 64 KiB")
	}
	if p.Priority != 0 && (p.Priority < 1 || p.Priority > 10) {
		fe.Add("spec.priority", "must be from 1 to 10, not %d", p.Priority)
	}
	for i, t := range p.Tags {
		if !tagOK(t) {
			fe.Add(fmt.Sprintf("spec.tags[%d]", i), "must be 1 to 63 letters, digits, '-', '_' or '.'")
		}
	}
}

// References returns nil; the project of a prompt is in its metadata.
func (p *PromptSpec) References() []Ref { return nil }

// ObjectReferences lists every reference of o, including a scoped object's
// project.
func ObjectReferences(o *Object) []Ref {
	var refs []Ref
	if o.Metadata.Project != "" {
		refs = append(refs, Ref{Kind: "Project", Name: o.Metadata.Project, Field: "metadata.project"})
	}
	if o.Spec != nil {
		refs = append(refs, o.Spec.References()...)
	}
	return refs
}
