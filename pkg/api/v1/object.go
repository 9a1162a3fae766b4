package v1

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// APIVersion is the group and version of every resource document.
const APIVersion = "mcpctl/v1"

// ObjectMeta is the metadata every resource carries (DESIGN.md §5).
type ObjectMeta struct {
	// Name is a DNS label, unique per kind (per project for scoped kinds).
	Name string `json:"name"`
	// Project scopes a resource of a project-scoped kind (Prompt).
	Project string `json:"project,omitempty"`
	// Labels are free key/value pairs that label selectors (-l) match.
	Labels map[string]string `json:"labels,omitempty"`
	// CreatedAt and UpdatedAt are set by mcpd; ignored on input.
	CreatedAt *time.Time `json:"createdAt,omitempty"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
	// ResourceVersion changes on every write. Sent back on an update it
	// makes the write conditional: a stale version is refused with 409.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// Object is one resource document: kubectl-style kind, metadata and spec.
type Object struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	// Spec is the kind's spec type: *ServerSpec, *SecretSpec, ...
	Spec Spec `json:"spec"`
}

// Spec is the desired state of one kind.
type Spec interface {
	// Default fills unset fields with their documented defaults. It is
	// idempotent, so a defaulted spec read back and applied is unchanged.
	Default()
	// Validate adds a problem for each invalid field; paths start with
	// "spec.". It checks the spec alone, not the objects it references.
	Validate(fe *FieldErrors)
	// References lists the other objects the spec names.
	References() []Ref
}

// Ref is a reference from one object to another.
type Ref struct {
	// Kind and Name identify the target (e.g. Secret "github").
	Kind, Name string
	// Key, for a Secret, is the data key that must exist.
	Key string
	// Field is the path of the referring field, for error messages.
	Field string
}

// String returns the reference in kind/name form.
func (r Ref) String() string {
	s := strings.ToLower(r.Kind) + "/" + r.Name
	if r.Key != "" {
		s += " key " + r.Key
	}
	return s
}

// ID names an object as kind/name or kind/project/name.
func (o *Object) ID() string { return IDOf(o.Kind, o.Metadata.Project, o.Metadata.Name) }

// IDOf names an object of kind as kind/name, or kind/project/name for a
// project-scoped kind, with the kind in its singular lower-case form.
func IDOf(kind, project, name string) string {
	s := strings.ToLower(kind)
	if k, ok := LookupKind(kind); ok {
		s = k.Singular
	}
	if project != "" {
		return s + "/" + project + "/" + name
	}
	return s + "/" + name
}

// UnmarshalJSON decodes an object with the spec type its kind selects. It
// is lenient, for reading mcpd's answers; DecodeObject is the strict form
// for input.
func (o *Object) UnmarshalJSON(data []byte) error {
	var raw struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   ObjectMeta      `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	k, ok := LookupKind(raw.Kind)
	if !ok || k.Kind != raw.Kind {
		return fmt.Errorf("unknown kind %q; known kinds: %s", raw.Kind, KindNames())
	}
	o.APIVersion, o.Kind, o.Metadata = raw.APIVersion, raw.Kind, raw.Metadata
	o.Spec = k.NewSpec()
	if len(raw.Spec) > 0 && string(raw.Spec) != "null" {
		return json.Unmarshal(raw.Spec, o.Spec)
	}
	return nil
}

// Validate checks the metadata and the spec of o. It does not look at
// other objects.
func (o *Object) Validate() error {
	var fe FieldErrors
	o.validate(&fe)
	return fe.Err()
}

func (o *Object) validate(fe *FieldErrors) {
	k, ok := LookupKind(o.Kind)
	if !ok || k.Kind != o.Kind {
		fe.Add("kind", "unknown kind %q; known kinds: %s", o.Kind, KindNames())
		return
	}
	if o.APIVersion != "" && o.APIVersion != APIVersion {
		fe.Add("apiVersion", "must be %q (or omitted), not %q", APIVersion, o.APIVersion)
	}
	if msg := ValidateName(o.Metadata.Name); msg != "" {
		fe.Add("metadata.name", "%s", msg)
	}
	switch {
	case k.Scoped && o.Metadata.Project == "":
		fe.Add("metadata.project", "a %s belongs to a project: set metadata.project (or -p PROJECT)", o.Kind)
	case k.Scoped:
		if msg := ValidateName(o.Metadata.Project); msg != "" {
			fe.Add("metadata.project", "%s", msg)
		}
	case o.Metadata.Project != "":
		fe.Add("metadata.project", "a %s is not project-scoped; remove metadata.project", o.Kind)
	}
	validateLabels(fe, o.Metadata.Labels)
	if rv := o.Metadata.ResourceVersion; rv != "" {
		if n, err := strconv.ParseInt(rv, 10, 64); err != nil || n < 1 {
			fe.Add("metadata.resourceVersion", "must be a version mcpd returned (a positive integer), not %q; leave it out to write unconditionally", rv)
		}
	}
	if o.Spec == nil {
		fe.Add("spec", "is required")
		return
	}
	o.Spec.Validate(fe)
}

// Normalize prepares an input object for storage: apiVersion set, spec
// defaulted, server-owned metadata cleared.
func (o *Object) Normalize() {
	o.APIVersion = APIVersion
	if o.Spec != nil {
		o.Spec.Default()
	}
	if len(o.Metadata.Labels) == 0 {
		o.Metadata.Labels = nil
	}
	// The timestamps are set by mcpd; on input they are ignored. The
	// resource version stays: it makes the write conditional.
	o.Metadata.CreatedAt, o.Metadata.UpdatedAt = nil, nil
}

// Prepare validates an input object and, when it is valid, fills its
// defaults and validates it again (what is stored is checked too). The
// first pass reports problems at the fields that were set, not again at
// defaults derived from them.
func (o *Object) Prepare() error {
	err := o.Validate()
	o.Normalize()
	if err == nil {
		err = o.Validate()
	}
	return err
}

// ObjectList is one page of a list endpoint. NextCursor is empty on the
// last page.
type ObjectList struct {
	Items      []Object `json:"items"`
	NextCursor string   `json:"nextCursor,omitempty"`
}

// Kind describes one resource kind.
type Kind struct {
	// Kind is the name in documents ("Server").
	Kind string
	// Plural is the path segment and the usual CLI name ("servers").
	Plural string
	// Singular is the lower-case name ("server").
	Singular string
	// Aliases are short CLI names ("srv").
	Aliases []string
	// Scoped kinds belong to a project (metadata.project).
	Scoped bool
	// Managed kinds have their own API (mcpd makes part of them, such as a
	// token's secret): no generic routes, not exported; apply still takes
	// them.
	Managed bool
	// NewSpec returns an empty spec of the kind.
	NewSpec func() Spec
}

// Kinds lists the resource kinds in apply order: every kind comes after the
// kinds it may reference, so one pass resolves every reference.
var Kinds = []Kind{
	{Kind: "Secret", Plural: "secrets", Singular: "secret", Aliases: []string{"sec"}, NewSpec: func() Spec { return &SecretSpec{} }},
	{Kind: "Template", Plural: "templates", Singular: "template", Aliases: []string{"tpl", "tmpl"}, NewSpec: func() Spec { return &TemplateSpec{} }},
	{Kind: "Server", Plural: "servers", Singular: "server", Aliases: []string{"srv"}, NewSpec: func() Spec { return &ServerSpec{} }},
	{Kind: "Project", Plural: "projects", Singular: "project", Aliases: []string{"proj", "prj"}, NewSpec: func() Spec { return &ProjectSpec{} }},
	{Kind: "Prompt", Plural: "prompts", Singular: "prompt", Aliases: []string{"pr"}, Scoped: true, NewSpec: func() Spec { return &PromptSpec{} }},
	{Kind: "Group", Plural: "groups", Singular: "group", Aliases: []string{"grp"}, NewSpec: func() Spec { return &GroupSpec{} }},
	{Kind: "RbacDefinition", Plural: "rbacdefinitions", Singular: "rbacdefinition", Aliases: []string{"rbac", "rbacs"}, NewSpec: func() Spec { return &RbacDefinitionSpec{} }},
	{Kind: "McpToken", Plural: "mcptokens", Singular: "mcptoken", Aliases: []string{"token", "tokens"}, Scoped: true, Managed: true,
		NewSpec: func() Spec { return &McpTokenSpec{} }},
}

// LookupKind finds a kind by its kind name, plural, singular or alias,
// ignoring case.
func LookupKind(s string) (Kind, bool) {
	l := strings.ToLower(s)
	for _, k := range Kinds {
		if l == strings.ToLower(k.Kind) || l == k.Plural || l == k.Singular {
			return k, true
		}
		for _, a := range k.Aliases {
			if l == a {
				return k, true
			}
		}
	}
	return Kind{}, false
}

// KindNames lists the kind names for error messages.
func KindNames() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Kind
	}
	return strings.Join(names, ", ")
}

// KindOrder is the position of kind in apply order (unknown kinds last).
func KindOrder(kind string) int {
	for i, k := range Kinds {
		if k.Kind == kind {
			return i
		}
	}
	return len(Kinds)
}

var labelValueRE = nameChars(63)

func validateLabels(fe *FieldErrors, labels map[string]string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msg := validateLabelKey(k); msg != "" {
			fe.Add("metadata.labels."+k, "the key %s", msg)
		}
		if v := labels[k]; v != "" && !labelValueRE(v) {
			fe.Add("metadata.labels."+k, "the value must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
		}
	}
}

// validateLabelKey checks a label key: an optional DNS-subdomain prefix and
// '/', then a name of at most 63 letters, digits, '-', '_' or '.'.
func validateLabelKey(k string) string {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if prefix == "" || len(prefix) > 253 {
			return "prefix must be a DNS subdomain of at most 253 characters"
		}
		for _, p := range strings.Split(prefix, ".") {
			if ValidateName(p) != "" {
				return "prefix must be a DNS subdomain such as example.com"
			}
		}
	}
	if !labelValueRE(name) {
		return "must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	}
	return ""
}

// nameChars returns a matcher for 1..max characters of [A-Za-z0-9._-]
// that start and end with a letter or digit.
func nameChars(max int) func(string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	return func(s string) bool {
		if s == "" || len(s) > max || !alnum(s[0]) || !alnum(s[len(s)-1]) {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
				return false
			}
		}
		return true
	}
}
