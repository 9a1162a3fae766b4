package v1

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// TemplateSpec is a reusable Server spec with declared inputs. Creating a
// server from it sets each input as an environment variable and replaces
// ${INPUT} in the command, args, image, url and env values.
type TemplateSpec struct {
	Description string          `json:"description,omitempty"`
	Inputs      []TemplateInput `json:"inputs,omitempty"`
	Server      ServerSpec      `json:"server"`
}

// TemplateInput is one value a user supplies when using a template.
type TemplateInput struct {
	// Name is the environment variable the value is set as.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Required inputs must be given unless they have a default.
	Required bool `json:"required,omitempty"`
	// Default is used when the input is not given.
	Default string `json:"default,omitempty"`
}

// Default fills the defaults of the server part.
func (t *TemplateSpec) Default() { t.Server.Default() }

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Validate checks the inputs and the server part; ${INPUT} placeholders
// must name declared inputs.
func (t *TemplateSpec) Validate(fe *FieldErrors) {
	if len(t.Description) > 1024 {
		fe.Add("spec.description", "must be at most 1024 characters")
	}
	declared := map[string]bool{}
	for i, in := range t.Inputs {
		p := fmt.Sprintf("spec.inputs[%d].name", i)
		switch {
		case !envNameRE.MatchString(in.Name):
			fe.Add(p, "must be an environment variable name: letters, digits and '_', not starting with a digit")
		case declared[in.Name]:
			fe.Add(p, "%s is declared twice", in.Name)
		}
		declared[in.Name] = true
	}
	t.Server.validate(fe, "spec.server", true)
	for _, name := range t.placeholders() {
		if !declared[name] {
			fe.Add("spec.server", "${%s} is used but not declared in spec.inputs", name)
		}
	}
}

// References lists the secret keys the server part names.
func (t *TemplateSpec) References() []Ref { return t.Server.refs("spec.server") }

func (t *TemplateSpec) placeholders() []string {
	set := map[string]bool{}
	t.Server.eachString(func(s *string) {
		for _, m := range placeholderRE.FindAllStringSubmatch(*s, -1) {
			set[m[1]] = true
		}
	})
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// eachString calls fn on every string field a template may parameterise.
func (s *ServerSpec) eachString(fn func(*string)) {
	fn(&s.Command)
	fn(&s.Image)
	fn(&s.URL)
	for i := range s.Args {
		fn(&s.Args[i])
	}
	for i := range s.Env {
		if s.Env[i].Value != nil {
			fn(s.Env[i].Value)
		}
	}
}

// Instantiate returns the server spec with values set: each input becomes
// an environment variable (replacing an entry of the same name) and its
// ${NAME} placeholders are replaced. A required input without a value or
// default, or a value for an undeclared input, is an error naming them.
func (t *TemplateSpec) Instantiate(values map[string]string) (ServerSpec, error) {
	declared := map[string]TemplateInput{}
	for _, in := range t.Inputs {
		declared[in.Name] = in
	}
	var unknown, missing []string
	for k := range values {
		if _, ok := declared[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	resolved := map[string]string{}
	for _, in := range t.Inputs {
		v, ok := values[in.Name]
		switch {
		case ok:
		case in.Default != "":
			v, ok = in.Default, true
		case in.Required:
			missing = append(missing, in.Name)
		}
		if ok {
			resolved[in.Name] = v
		}
	}
	sort.Strings(unknown)
	var problems []string
	if len(unknown) > 0 {
		names := make([]string, 0, len(declared))
		for _, in := range t.Inputs {
			names = append(names, in.Name)
		}
		problems = append(problems, fmt.Sprintf("the template has no input %s (its inputs: %s)",
			strings.Join(unknown, ", "), orNoneList(names)))
	}
	if len(missing) > 0 {
		problems = append(problems, "missing required input "+strings.Join(missing, ", ")+": pass --set NAME=VALUE")
	}
	if len(problems) > 0 {
		return ServerSpec{}, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	s := t.Server.clone()
	s.eachString(func(p *string) {
		*p = placeholderRE.ReplaceAllStringFunc(*p, func(m string) string {
			return resolved[m[2:len(m)-1]]
		})
	})
	for _, in := range t.Inputs {
		v, ok := resolved[in.Name]
		if !ok {
			continue
		}
		v2 := v
		e := EnvVar{Name: in.Name, Value: &v2}
		replaced := false
		for i := range s.Env {
			if s.Env[i].Name == in.Name {
				s.Env[i], replaced = e, true
			}
		}
		if !replaced {
			s.Env = append(s.Env, e)
		}
	}
	return s, nil
}

func orNoneList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// clone returns a deep copy of the fields Instantiate changes and of the
// health check.
func (s ServerSpec) clone() ServerSpec {
	out := s
	out.Args = append([]string(nil), s.Args...)
	out.Env = make([]EnvVar, len(s.Env))
	for i, e := range s.Env {
		out.Env[i] = e
		if e.Value != nil {
			v := *e.Value
			out.Env[i].Value = &v
		}
		if e.SecretRef != nil {
			r := *e.SecretRef
			out.Env[i].SecretRef = &r
		}
	}
	if s.Replicas != nil {
		r := *s.Replicas
		out.Replicas = &r
	}
	if s.HealthCheck != nil {
		// Not changed by Instantiate, but the caller defaults and edits
		// the result: it must not share the template's health check.
		h := *s.HealthCheck
		if h.Arguments != nil {
			h.Arguments = copyJSON(h.Arguments).(map[string]any)
		}
		out.HealthCheck = &h
	}
	if len(out.Env) == 0 {
		out.Env = nil
	}
	return out
}

// copyJSON deep-copies the maps and lists of a JSON value.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}
